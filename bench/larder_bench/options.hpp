// larder-bench's configuration: what to run, on which store, for how long.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "larder/memory_store.hpp"

namespace larder::bench {

/// Which keys the operations touch.
struct key_distribution {
  enum class kind { zipf, uniform, scan_mix };
  kind shape = kind::zipf;
  double alpha = 0.9;          ///< Zipf skew (zipf, and the hot set of scan_mix)
  double scan_fraction = 0.2;  ///< scan_mix: share of requests that are one-pass scans
  std::string text() const;
};

/// How large each key's value is. A key keeps one size for the whole run, drawn once
/// from this distribution, so a hit can be checked against what was put.
struct size_distribution {
  enum class kind { fixed, uniform, pareto };
  kind shape = kind::fixed;
  std::uint64_t min = 4096;
  std::uint64_t max = 4096;
  double pareto_shape = 1.2;  ///< tail index of the bounded Pareto: smaller, heavier tail
  std::string text() const;
};

/// Shares of the operations in percent; they add up to 100. A get that misses puts the
/// value (cache-aside), and that fill is timed as its own kind, not drawn from the mix.
struct op_mix {
  unsigned get = 90;
  unsigned put = 9;
  unsigned invalidate = 1;  ///< invalidate_prefix of the full key: the invalidation path
  std::string text() const;
};

struct bench_config {
  std::string backend = "layered";
  std::string compare;      ///< a baseline backend run afterwards on the same trace; empty: none
  std::string dir;          ///< cache root for disk tiers, kept; empty: a temporary one, removed
  std::string io = "auto";  ///< io engine backend: auto, io_uring, thread_pool
  std::string redis = "127.0.0.1:6379";  ///< the redis backend's server, HOST:PORT
  /// The redis backend's time to live in seconds; 0: none, as a plain SET (redis_compare.sh).
  std::uint32_t redis_ttl_s = 1800;
  bool redis_cluster = false;  ///< --redis names a node of a Redis Cluster
  /// Operations over all threads; 0 runs for `duration_s` instead.
  std::uint64_t ops = 0;
  /// With none of --ops, --duration, --warmup given: 5 s of warm-up (the memory tier fills
  /// and starts evicting into the disk tier's hits) and 20 s measured, 25 s in all.
  double duration_s = 20.0;
  /// Untimed operations (or seconds, when warmup_s > 0) of the same workload before the run.
  std::uint64_t warmup_ops = 0;
  double warmup_s = 5.0;
  unsigned threads = 2;
  unsigned inflight = 16;  ///< coroutines per thread
  std::uint32_t keys = 50'000;
  key_distribution key_dist;
  size_distribution value_size{size_distribution::kind::uniform, 1024, 16384, 1.2};
  op_mix mix;
  std::uint64_t capacity = 16ull << 20;        ///< memory tier (or the only in-memory store)
  std::uint64_t disk_capacity = 256ull << 20;  ///< disk tier
  eviction_policy policy = eviction_policy::s3_fifo;
  /// A flush every this many operations over all threads; 0: never.
  std::uint64_t flush_every = 25'000;
  std::uint64_t seed = 0x6c61726465720001ULL;
  bool json = false;     ///< machine-readable report on stdout instead of the tables
  bool progress = true;  ///< live progress on stderr
  bool verify = true;    ///< check every hit's bytes against what the key's put stored
};

/// Parses the command line. On --help or a usage error it prints what CLI11 prints and
/// returns the exit code to use; otherwise the configuration.
struct parse_outcome {
  std::optional<bench_config> config;
  int exit_code = 0;
};
parse_outcome parse_command_line(int argc, char** argv);

/// The memory policy's name as the command line spells it.
const char* policy_name(eviction_policy p) noexcept;

}  // namespace larder::bench
