// A key-value store that the disk bench runs beside disk_store on the same keys and values
// (bench/disk_peers.cpp): LMDB and RocksDB, each used the way its documentation gives for
// the fastest durable bulk load and for concurrent point reads.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace larder::bench {

class kv_peer {
 public:
  virtual ~kv_peer() = default;
  virtual const char* name() const = 0;
  /// Opens (creating) the store in `dir`. Exits the process on failure: a figure measured
  /// without it would mislead.
  virtual void open(const std::string& dir) = 0;
  virtual void close() = 0;
  /// Stores every pair, values[i % values.size()] under keys[i], and returns once all of
  /// them are durable (synced to the device).
  virtual void put_durable(const std::vector<std::string>& keys,
                           const std::vector<std::string>& values) = 0;
  /// One point read into `out`; false on a miss. Safe from several threads at once (each
  /// thread calls begin_reader() first and end_reader() after).
  virtual bool get(std::string_view key, std::string& out) = 0;
  virtual void begin_reader() {}
  virtual void end_reader() {}
};

// nullptr when the bench was built without that library.
std::unique_ptr<kv_peer> make_lmdb_peer();
std::unique_ptr<kv_peer> make_rocksdb_peer();

}  // namespace larder::bench
