// Runs the workload against a store: every thread of the runtime runs `inflight`
// coroutines that take the next step of that thread's trace until the phase ends.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "larder/any_store.hpp"
#include "larder_bench/histogram.hpp"
#include "larder_bench/options.hpp"
#include "larder_bench/runtime.hpp"
#include "larder_bench/workload.hpp"

namespace larder::bench {

class progress_display;

/// What the driver saw, per thread while running and summed afterwards.
struct run_stats {
  std::array<latency_histogram, op_kind_count> latency;  ///< by op_kind
  std::uint64_t ops = 0;  ///< steps of the trace taken (fills and flushes not included)
  std::uint64_t gets = 0, hits = 0, misses = 0, get_faults = 0;
  std::uint64_t wrong_values = 0;  ///< hits whose bytes were not the key's value
  std::uint64_t puts = 0, fills = 0, rejected_puts = 0, put_errors = 0;
  std::uint64_t invalidates = 0, invalidated = 0, invalidate_errors = 0;
  std::uint64_t flushes = 0, flush_errors = 0;
  std::uint64_t bytes_put = 0;  ///< value bytes handed to put (puts and fills)
  std::uint64_t bytes_hit = 0;  ///< value bytes returned by hits
  std::string first_error;      ///< the first fault's message, for the report

  void merge(const run_stats& other);
  /// Faults of any kind, and wrong bytes: anything that makes the run's figures suspect.
  std::uint64_t faults() const noexcept {
    return get_faults + put_errors + invalidate_errors + flush_errors + wrong_values;
  }
};

struct phase_spec {
  std::uint64_t ops = 0;  ///< over all threads; 0: run for `seconds`
  double seconds = 0;
  std::string label;  ///< for the progress display
};

struct phase_result {
  run_stats stats;
  double seconds = 0;
  bool interrupted = false;  ///< stopped early by `interrupt`
};

/// Runs one phase and blocks until it ends. `cursors` (one per thread, kept between
/// phases) says where each thread's trace continues. `interrupt` stops the phase early
/// (a signal handler sets it). `progress` may be null.
phase_result run_phase(runtime& rt, any_store& store, const workload& w, const bench_config& c,
                       const phase_spec& spec, std::vector<std::uint64_t>& cursors,
                       const std::atomic<bool>& interrupt, progress_display* progress);

}  // namespace larder::bench
