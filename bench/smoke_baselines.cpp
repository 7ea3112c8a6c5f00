// baseline-bench: runs the benchmark harnesses on the two baselines only, so their figures
// can be sanity-checked against the published anchors before larder's store is compared
// with them. Every figure larder reports is a ratio against these, measured in one run.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "baselines/mutex_lru.hpp"
#include "baselines/seed_store.hpp"
#include "support/belady.hpp"
#include "support/runner.hpp"
#include "support/zipf.hpp"

namespace {

using namespace larder::bench;

struct config {
  std::uint64_t ops = 2'000'000;
  unsigned duration_ms = 1000;
  std::vector<unsigned> threads{1, 2};
  std::uint32_t keys = 100'000;
  double alpha = 1.0;
  std::size_t trace_length = std::size_t{1} << 22;
  std::size_t value_size = 64;
  std::uint32_t hit_keys = 10'000;
  std::size_t requests = 5'000'000;
  std::uint64_t seed = default_seed;
  unsigned runs = 3;
  bool skip_throughput = false;
  bool skip_hit_ratio = false;
};

const char* mix_name(double read_fraction) {
  if (read_fraction >= 1.0) return "100% read";
  if (read_fraction <= 0.0) return "100% write";
  return "75/25";
}

double median_rate(const std::vector<throughput_result>& runs) {
  std::vector<double> rates;
  for (const auto& r : runs)
    rates.push_back(r.ops_per_second());
  std::sort(rates.begin(), rates.end());
  const std::size_t n = rates.size();
  return n % 2 == 1 ? rates[n / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2.0;
}

void throughput_table(const config& cfg) {
  const auto keys = make_keys(cfg.keys);
  const auto trace = zipf_trace(cfg.keys, cfg.alpha, cfg.trace_length, cfg.seed);
  // Twice the key count: the seed's first-byte shards fill unevenly (about 390 +- 20 keys
  // each for 100k keys), and at exactly 1x some shards would evict and reads would miss.
  const std::size_t capacity = std::size_t{2} * cfg.keys;
  const std::size_t unbounded = std::numeric_limits<std::size_t>::max();
  mutex_lru lru(capacity, unbounded);
  seed_store seed(capacity, unbounded);
  prepopulate(lru, keys, cfg.value_size);
  prepopulate(seed, keys, cfg.value_size);

  std::printf("\nthroughput: Zipf %.2f over %u keys, trace %zu, %zu-byte values, ", cfg.alpha,
              cfg.keys, cfg.trace_length, cfg.value_size);
  if (cfg.ops != 0)
    std::printf("%llu ops/thread", static_cast<unsigned long long>(cfg.ops));
  else
    std::printf("%u ms/run", cfg.duration_ms);
  std::printf(", median of %u runs\n", cfg.runs);
  std::printf("%-11s %7s %15s %15s %9s %9s\n", "mix", "threads", "mutex_lru Mop/s", "seed Mop/s",
              "seed/lru", "read-hit");
  for (const double read_fraction : {1.0, 0.75, 0.0}) {
    for (const unsigned threads : cfg.threads) {
      throughput_options options;
      options.threads = threads;
      options.read_fraction = read_fraction;
      options.ops_per_thread = cfg.ops;
      options.duration = std::chrono::milliseconds(cfg.duration_ms);
      options.value_size = cfg.value_size;
      // The stores alternate run by run, so a burst of noise from another process lands
      // on both; the median then drops the disturbed runs.
      std::vector<throughput_result> a, b;
      for (unsigned r = 0; r < cfg.runs; ++r) {
        a.push_back(run_throughput(lru, trace, keys, options));
        b.push_back(run_throughput(seed, trace, keys, options));
      }
      const double a_rate = median_rate(a), b_rate = median_rate(b);
      double hit = 1.0;
      for (const auto* runs : {&a, &b})
        for (const auto& r : *runs)
          hit = std::min(hit, r.read_hit_ratio());
      std::printf("%-11s %7u %15.2f %15.2f %8.2fx ", mix_name(read_fraction), threads, a_rate / 1e6,
                  b_rate / 1e6, b_rate / a_rate);
      if (read_fraction > 0.0)
        std::printf("%8.1f%%\n", 100.0 * hit);
      else
        std::printf("%9s\n", "-");
    }
  }
}

void hit_ratio_table(const config& cfg) {
  const auto keys = make_keys(cfg.hit_keys);
  const std::size_t unbounded = std::numeric_limits<std::size_t>::max();
  std::printf("\nhit ratio: %u keys, %zu requests, demand fill (get, put on miss)\n", cfg.hit_keys,
              cfg.requests);
  std::printf("%-6s %6s %8s %8s %10s %11s %8s %9s\n", "alpha", "cache", "entries", "LRU-sim",
              "mutex_lru", "seed_store", "Belady", "LRU/MIN");
  for (const double alpha : {0.9, 1.0}) {
    const auto trace = zipf_trace(cfg.hit_keys, alpha, cfg.requests, cfg.seed);
    for (const double share : {0.01, 0.10}) {
      const auto capacity = static_cast<std::size_t>(share * cfg.hit_keys + 0.5);
      const auto sim = lru_hits(trace, capacity);
      const auto opt = belady_hits(trace, capacity);
      mutex_lru lru(capacity, unbounded);
      seed_store seed(capacity, unbounded);
      const auto by_lru = run_hit_ratio(lru, trace, keys, cfg.value_size);
      const auto by_seed = run_hit_ratio(seed, trace, keys, cfg.value_size);
      std::printf("%-6.2f %5.0f%% %8zu %7.2f%% %9.2f%% %10.2f%% %7.2f%% %8.2fx\n", alpha,
                  100.0 * share, capacity, 100.0 * sim.ratio(), 100.0 * by_lru.ratio(),
                  100.0 * by_seed.ratio(), 100.0 * opt.ratio(), sim.ratio() / opt.ratio());
    }
  }
  std::printf("(seed_store budgets are total/256 per shard: below 256 entries it holds nothing)\n");
}

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  CLI::App app{"Throughput and hit ratio of the benchmark baselines (mutex LRU, seed store)"};
  app.add_option("--ops", cfg.ops, "operations per thread per run (0: use --duration-ms)");
  app.add_option("--duration-ms", cfg.duration_ms, "length of each run when --ops is 0");
  app.add_option("--threads", cfg.threads, "thread counts to run, e.g. 1,2,4")->delimiter(',');
  app.add_option("--keys", cfg.keys, "keys in the throughput trace")->check(CLI::PositiveNumber);
  app.add_option("--alpha", cfg.alpha, "Zipf exponent of the throughput trace");
  app.add_option("--trace", cfg.trace_length, "length of the throughput trace")
      ->check(CLI::PositiveNumber);
  app.add_option("--value-size", cfg.value_size, "bytes per value");
  app.add_option("--hit-keys", cfg.hit_keys, "keys in the hit-ratio traces")
      ->check(CLI::PositiveNumber);
  app.add_option("--requests", cfg.requests, "requests per hit-ratio trace");
  app.add_option("--seed", cfg.seed, "trace seed");
  app.add_option("--runs", cfg.runs, "runs per throughput figure (the median is shown)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--skip-throughput", cfg.skip_throughput);
  app.add_flag("--skip-hit-ratio", cfg.skip_hit_ratio);
  CLI11_PARSE(app, argc, argv);

  if (!cfg.skip_throughput) throughput_table(cfg);
  if (!cfg.skip_hit_ratio) hit_ratio_table(cfg);
  return 0;
}
