// RocksDB 7.8: writes in batches of 1,000 without a sync each, then one FlushWAL(sync) that
// makes all of them durable (its write-ahead log is the durability; the memtables stay in
// memory as they would in any process); reads with Get from every thread.
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "peers/peer.hpp"

namespace larder::bench {

namespace {

void check(const rocksdb::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "rocksdb %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

class rocksdb_peer final : public kv_peer {
 public:
  ~rocksdb_peer() override { close(); }
  const char* name() const override { return "rocksdb"; }

  void open(const std::string& dir) override {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.IncreaseParallelism(static_cast<int>(std::thread::hardware_concurrency()));
    rocksdb::DB* db = nullptr;
    check(rocksdb::DB::Open(options, dir, &db), "open");
    db_.reset(db);
  }

  void close() override { db_.reset(); }

  void put_durable(const std::vector<std::string>& keys,
                   const std::vector<std::string>& values) override {
    rocksdb::WriteOptions no_sync;
    rocksdb::WriteBatch batch;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      batch.Put(keys[i], values[i % values.size()]);
      if (batch.Count() == 1000 || i + 1 == keys.size()) {
        check(db_->Write(no_sync, &batch), "write");
        batch.Clear();
      }
    }
    check(db_->FlushWAL(true), "FlushWAL(sync)");
  }

  bool get(std::string_view key, std::string& out) override {
    const auto s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(key.data(), key.size()), &out);
    if (s.IsNotFound()) return false;
    check(s, "get");
    return true;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace

std::unique_ptr<kv_peer> make_rocksdb_peer() {
  return std::make_unique<rocksdb_peer>();
}

}  // namespace larder::bench
