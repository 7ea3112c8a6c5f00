// compile_cache's counters: a small text file next to the object store, updated under flock
// so that the parallel compiles of `make -j` do not lose counts.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

namespace compile_cache {

struct counters {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;        ///< compiled and stored
  std::uint64_t passthroughs = 0;  ///< not cacheable: run as given
  std::uint64_t errors = 0;        ///< cacheable, but the compiler failed or the store faulted
};

enum class outcome { hit, miss, passthrough, error };

/// Adds one `what` to the counters in `path` (created when missing).
std::error_code record(const std::string& path, outcome what);

/// Sets every counter in `path` to zero (compile_cache -z).
std::error_code reset(const std::string& path);

/// Reads the counters; a missing file is all zeros.
counters load(const std::string& path, std::error_code& ec);

}  // namespace compile_cache
