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

}  // namespace larder::bench
