// larder-bench's report: tables and a summary paragraph for people, JSON for programs.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "larder_bench/options.hpp"
#include "larder_bench/probe.hpp"
#include "larder_bench/runner.hpp"
#include "larder_bench/workload.hpp"

namespace larder::bench {

/// One backend's measured phase.
struct run_report {
  std::string backend;      ///< the backend table's name
  std::string description;  ///< what was opened, with its budgets and root
  phase_result phase;
  store_probe store;  ///< what the store counted during the measured phase only
  std::uint64_t warmup_ops = 0;
  bool counts_evictions = true;  ///< false: the store does not report evictions

  double ops_per_second() const noexcept {
    return phase.seconds > 0 ? static_cast<double>(phase.stats.ops) / phase.seconds : 0.0;
  }
  /// Hits over gets as the driver saw them.
  double hit_ratio() const noexcept {
    const auto& s = phase.stats;
    return s.gets ? static_cast<double>(s.hits) / static_cast<double>(s.gets) : 0.0;
  }
  /// Share of the driver's gets that tier `i` answered.
  double tier_share(std::size_t i) const noexcept;
  /// "io_uring", "thread_pool", or "none" for stores without a disk tier.
  std::string io_backend() const;
  std::uint64_t latency_ns(op_kind k, double q) const noexcept {
    return phase.stats.latency[static_cast<std::size_t>(k)].quantile(q);
  }
};

/// The workload in one line, for the report's header.
std::string describe_workload(const bench_config& c, const workload& w);

/// The full tables of one run.
void print_run(std::FILE* out, const bench_config& c, const run_report& r);
/// The ratios of `primary` to `baseline`.
void print_comparison(std::FILE* out, const run_report& primary, const run_report& baseline);
/// The closing paragraph: throughput, hits per tier, tail latency, io backend.
void print_summary(std::FILE* out, const bench_config& c, const run_report& r);

/// The whole report as JSON; `baseline` may be null.
std::string json_report(const bench_config& c, const workload& w, const run_report& primary,
                        const run_report* baseline);

}  // namespace larder::bench
