// larder-disk-bench's peers section: disk_store beside LMDB and RocksDB on the same keys and
// values: the time to store N entries of 4 KiB and make them durable, 4 KiB point reads
// from several threads, and the time from open to the first read, page cache warm and
// dropped.
#pragma once

#include "larder/io_engine.hpp"
#include "support/disk_harness.hpp"

namespace larder::bench {

struct peers_config {
  unsigned entries = 50000;
  unsigned get_ops = 200000;
  unsigned threads = 2;
  unsigned inflight = 16;  // larder's coroutines per thread
  unsigned rounds = 3;     // the designs take turns; the median counts
  io_engine_options io;
};

void peers_section(const peers_config& c, scratch& dirs);

}  // namespace larder::bench
