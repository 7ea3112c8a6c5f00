// larder-disk-bench's open section: how soon a reopened disk store serves its first get, and
// how long until its index is complete, at a given number of entries, with the page cache
// warm and after dropping it.
#pragma once

#include <string>

#include "larder/io_engine.hpp"
#include "support/disk_harness.hpp"

namespace larder::bench {

struct open_config {
  unsigned entries = 100000;
  unsigned rounds = 3;  // reopens per cache state; the median counts
  io_engine_options io;
};

void open_section(const open_config& c, scratch& dirs);

// Writes back dirty pages and empties the page cache (root only); false when refused.
bool drop_caches();

struct open_times {
  double open_ms = 0;       // open() completed
  double first_get_ms = 0;  // the first get (of an existing key) completed
  double indexed_ms = 0;    // the index is complete: every entry counted
  std::uint64_t entries = 0;
  std::uint64_t loaded = 0;  // of them, from the saved index
  bool hit = false;
};

// Opens the store at `root` on a fresh io_context, gets `key`, waits for the index; times each.
open_times reopen(const std::string& root, const io_engine_options& io_options,
                  const std::string& key, bool use_saved);

}  // namespace larder::bench
