// larder-memory-bench: memory_store against a single-mutex LRU and the seed's design,
// every figure a ratio measured in this one process (docs/PERFORMANCE.md).
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <cstdio>
#include <map>
#include <string>
#include <thread>

#include "baselines/mutex_lru.hpp"
#include "baselines/seed_store.hpp"
#include "larder/memory_store.hpp"
#include "support/belady.hpp"
#include "support/runner.hpp"
#include "support/zipf.hpp"

namespace bench = larder::bench;
using namespace std::chrono_literals;

namespace {

// memory_store through the harness's synchronous get/put interface.
struct larder_adapter {
  larder::memory_store& store;
  bool get(std::string_view key, larder::blob& out) {
    if (auto v = store.try_get(key)) {
      out = std::move(*v);
      return true;
    }
    return false;
  }
  void put(std::string_view key, larder::blob value) {
    (void)store.put_now(key, std::move(value), 0ms);
  }
};

struct config {
  std::uint32_t keys = 100'000;
  double alpha = 1.0;  // skew of the throughput trace
  std::chrono::milliseconds duration{1500};
  std::uint64_t hit_requests = 5'000'000;
  std::uint64_t memory_entries = 1'000'000;
  // 1.6% of 4M keys is 65,536 entries: the seed's own default of 256 per shard.
  std::uint32_t churn_keys = 4'000'000;
  std::string sections = "throughput,churn,latency,hitratio,memory";
  bool wants(const char* name) const { return sections.find(name) != std::string::npos; }
};

larder::memory_store_options sized(std::uint64_t entries, larder::eviction_policy policy) {
  return {.max_entries = entries, .max_bytes = 1ull << 40, .policy = policy};
}

void throughput(const config& c) {
  std::printf("\n## Throughput: Zipf %.2f over %u keys, store holds every key, reads all hit\n",
              c.alpha, c.keys);
  const auto keys = bench::make_keys(c.keys);
  const auto trace = bench::zipf_trace(c.keys, c.alpha, 1 << 22);
  std::printf("%-22s %-8s %8s %12s %10s\n", "store", "mix", "threads", "Mops/s", "vs mutex");
  for (const double reads : {1.0, 0.75, 0.0}) {
    const char* mix = reads == 1.0 ? "100% rd" : reads == 0.75 ? "75/25" : "100% wr";
    for (const unsigned threads : {1u, 2u}) {
      const bench::throughput_options o{
          .threads = threads, .read_fraction = reads, .duration = c.duration};
      double base = 0;
      auto report = [&](const char* name, const bench::throughput_result& r) {
        const double mops = r.ops_per_second() / 1e6;
        if (base == 0) base = mops;
        std::printf("%-22s %-8s %8u %12.2f %9.2fx\n", name, mix, threads, mops, mops / base);
      };
      {
        bench::mutex_lru lru(c.keys * 2, 1ull << 40);
        bench::prepopulate(lru, keys, 64);
        report("mutex_lru (baseline)", bench::run_throughput(lru, trace, keys, o));
      }
      {
        bench::seed_store seed(c.keys * 2, 1ull << 40);
        bench::prepopulate(seed, keys, 64);
        report("seed (256 mutexes)", bench::run_throughput(seed, trace, keys, o));
      }
      for (auto policy : {larder::eviction_policy::s3_fifo, larder::eviction_policy::lru}) {
        larder::memory_store store(sized(c.keys * 2, policy));
        larder_adapter a{store};
        bench::prepopulate(a, keys, 64);
        report(policy == larder::eviction_policy::s3_fifo ? "larder s3_fifo" : "larder lru",
               bench::run_throughput(a, trace, keys, o));
      }
    }
  }
}

// Demand fill on several threads: get, and put on a miss. Every miss evicts.
template <class S>
double churn_mops(S& store, std::span<const std::uint32_t> trace, std::span<const std::string> keys,
                  unsigned threads, std::chrono::milliseconds duration) {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> total{0};
  std::vector<std::thread> workers;
  const auto value = bench::make_value(64, 7);
  const auto start = std::chrono::steady_clock::now();
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::uint64_t ops = 0;
      larder::blob out;
      std::size_t at = t * trace.size() / threads;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 1024; ++i, ++ops) {
          const auto& key = keys[trace[at]];
          if (++at == trace.size()) at = 0;
          if (!store.get(key, out)) store.put(key, value);
        }
      }
      total += ops;
    });
  }
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& w : workers)
    w.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(total) / seconds / 1e6;
}

void churn(const config& c) {
  const std::uint32_t keys_n = c.churn_keys;
  const std::uint64_t capacity = keys_n * 16 / 1000;
  std::printf(
      "\n## Eviction churn: Zipf 0.9 over %u keys, capacity %llu (1.6%%), get + put "
      "on miss\n",
      keys_n, static_cast<unsigned long long>(capacity));
  const auto keys = bench::make_keys(keys_n);
  const auto trace = bench::zipf_trace(keys_n, 0.9, 1 << 22);
  std::printf("%-22s %8s %12s %10s\n", "store", "threads", "Mops/s", "vs seed");
  for (const unsigned threads : {1u, 2u}) {
    bench::seed_store seed(capacity, 1ull << 40);
    const double base = churn_mops(seed, trace, keys, threads, c.duration);
    std::printf("%-22s %8u %12.2f %9.2fx\n", "seed (linear scan)", threads, base, 1.0);
    bench::mutex_lru lru(capacity, 1ull << 40);
    const double l = churn_mops(lru, trace, keys, threads, c.duration);
    std::printf("%-22s %8u %12.2f %9.2fx\n", "mutex_lru", threads, l, l / base);
    larder::memory_store store(sized(capacity, larder::eviction_policy::s3_fifo));
    larder_adapter a{store};
    const double m = churn_mops(a, trace, keys, threads, c.duration);
    std::printf("%-22s %8u %12.2f %9.2fx\n", "larder s3_fifo", threads, m, m / base);
  }
}

void latency(const config&) {
  std::printf("\n## Hit latency: co_await get vs try_get (one thread, one hot key set)\n");
  larder::memory_store store;
  const auto keys = bench::make_keys(1024);
  for (std::uint32_t i = 0; i < keys.size(); ++i)
    (void)store.put_now(keys[i], bench::make_value(64, i), 0ms);
  constexpr std::uint64_t n = 4'000'000;
  const auto sync = bench::measure_latency(
      [&](std::uint64_t i) { bench::do_not_optimize(store.try_get(keys[i & 1023])); }, n);
  bench::latency_result coro;
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        // Same batching as measure_latency, with the co_await inside the timed loop.
        using clock = std::chrono::steady_clock;
        double best = 1e300;
        const auto begin = clock::now();
        for (std::uint64_t done = 0; done < n; done += 1000) {
          const auto t0 = clock::now();
          for (std::uint64_t i = done; i < done + 1000; ++i) {
            auto r = co_await store.get(keys[i & 1023]);
            bench::do_not_optimize(r);
          }
          best = std::min(
              best, std::chrono::duration<double, std::nano>(clock::now() - t0).count() / 1000);
        }
        coro.mean_ns = std::chrono::duration<double, std::nano>(clock::now() - begin).count() / n;
        coro.best_batch_ns = best;
      },
      asio::detached);
  io.run();
  std::printf("%-22s %10s %12s\n", "path", "mean ns", "best ns");
  std::printf("%-22s %10.1f %12.1f\n", "try_get", sync.mean_ns, sync.best_batch_ns);
  std::printf("%-22s %10.1f %12.1f\n", "co_await get", coro.mean_ns, coro.best_batch_ns);
  std::printf("coroutine path adds %.1f ns/op\n", coro.mean_ns - sync.mean_ns);
}

double ratio_of(larder::memory_store& store, std::span<const std::uint32_t> trace,
                std::span<const std::string> keys) {
  larder_adapter a{store};
  return bench::run_hit_ratio(a, trace, keys).ratio() * 100;
}

void hit_ratio(const config& c) {
  const std::uint32_t keys_n = 10'000;
  std::printf("\n## Hit ratio: %u keys, %llu requests, one thread, fixed seed\n", keys_n,
              static_cast<unsigned long long>(c.hit_requests));
  const auto keys = bench::make_keys(keys_n);
  std::printf("%-10s %-9s %10s %10s %10s %12s\n", "zipf", "capacity", "lru %", "s3_fifo %",
              "gain pts", "belady %");
  for (const double alpha : {0.9, 1.0}) {
    const auto trace = bench::zipf_trace(keys_n, alpha, c.hit_requests);
    for (const std::uint64_t capacity : {keys_n / 100, keys_n / 10}) {
      larder::memory_store lru(sized(capacity, larder::eviction_policy::lru));
      larder::memory_store s3(sized(capacity, larder::eviction_policy::s3_fifo));
      const double l = ratio_of(lru, trace, keys), s = ratio_of(s3, trace, keys);
      const double opt = bench::belady_hits(trace, capacity).ratio() * 100;
      std::printf("%-10.1f %-9llu %10.2f %10.2f %+10.2f %12.2f\n", alpha,
                  static_cast<unsigned long long>(capacity), l, s, s - l, opt);
    }
  }
  // Scan resistance: the hot set's hit ratio without scans and with sequential scans of
  // 10x the capacity taking a growing share of the requests.
  const std::uint64_t capacity = 1000;
  const auto plain = bench::zipf_trace(keys_n, 0.9, c.hit_requests);
  std::printf(
      "\nscan mix: Zipf 0.9 hot set of %u keys, capacity %llu, bursts of sequential "
      "scans of 10x capacity; hot-set hit ratio\n",
      keys_n, static_cast<unsigned long long>(capacity));
  std::printf("%-10s %10s %12s %12s %10s\n", "policy", "scan share", "no scans %", "scans %",
              "drop pts");
  for (const double share : {0.3, 0.5, 0.8}) {
    bench::scan_mix_options mix{
        .hot_keys = keys_n, .alpha = 0.9, .capacity = capacity, .scan_fraction = share};
    const auto mixed = bench::scan_mix_trace(mix, c.hit_requests);
    const auto all_keys = bench::make_keys(static_cast<std::uint32_t>(bench::key_count(mix)));
    for (auto policy : {larder::eviction_policy::lru, larder::eviction_policy::s3_fifo}) {
      larder::memory_store quiet(sized(capacity, policy)), noisy(sized(capacity, policy));
      const double q = ratio_of(quiet, plain, all_keys);
      larder_adapter a{noisy};
      std::uint64_t hot = 0, hot_hits = 0;
      larder::blob out;
      const auto value = bench::make_value(64, 1);
      for (const auto id : mixed) {
        const bool hit = a.get(all_keys[id], out);
        if (!hit) a.put(all_keys[id], value);
        if (id < keys_n) ++hot, hot_hits += hit;
      }
      const double n = 100.0 * static_cast<double>(hot_hits) / static_cast<double>(hot);
      std::printf("%-10s %10.1f %12.2f %12.2f %10.2f\n",
                  policy == larder::eviction_policy::lru ? "lru" : "s3_fifo", share, q, n, q - n);
    }
  }
}

// Bytes in use: glibc serves large blocks (index tables past 128 KiB) by mmap, and counts
// those apart from the heap's chunks.
std::size_t heap_in_use() {
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

void memory(const config& c) {
  const std::uint64_t n = c.memory_entries;
  std::printf("\n## Memory: %llu entries, 32-byte keys, 32-byte values\n",
              static_cast<unsigned long long>(n));
  const auto keys = bench::make_keys(static_cast<std::uint32_t>(n));
  std::vector<larder::blob> values;
  values.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i)
    values.push_back(bench::make_value(32, i));
  for (auto policy : {larder::eviction_policy::s3_fifo, larder::eviction_policy::lru}) {
    malloc_trim(0);
    const auto before = heap_in_use();
    {
      larder::memory_store store(sized(n, policy));
      for (std::uint64_t i = 0; i < n; ++i)
        (void)store.put_now(keys[i], values[i], 0ms);
      const auto after = heap_in_use();
      // Per entry actually held: hashing spreads keys unevenly, so a few shards evict.
      const auto held = store.metrics().entries;
      const double payload = static_cast<double>(held) * (32 + 32);
      const double per_entry =
          (static_cast<double>(after - before) - payload) / static_cast<double>(held);
      std::printf(
          "%-10s entries %llu, heap %.1f MiB, bookkeeping %.1f bytes/entry beyond key "
          "and value (allocator headers included)\n",
          policy == larder::eviction_policy::lru ? "lru" : "s3_fifo",
          static_cast<unsigned long long>(held), static_cast<double>(after - before) / 1048576.0,
          per_entry);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"larder-memory-bench: memory_store against a mutex LRU and the seed design"};
  config c;
  std::uint64_t duration_ms = c.duration.count();
  app.add_option("--keys", c.keys, "keys in the throughput runs");
  app.add_option("--alpha", c.alpha, "Zipf skew of the throughput trace (0 = uniform)");
  app.add_option("--duration-ms", duration_ms, "length of each timed run");
  app.add_option("--requests", c.hit_requests, "requests in each hit-ratio run");
  app.add_option("--memory-entries", c.memory_entries, "entries in the memory run");
  app.add_option("--churn-keys", c.churn_keys, "keys in the churn run (capacity is 1.6%)");
  app.add_option("--sections", c.sections,
                 "comma-separated: throughput,churn,latency,hitratio,memory");
  CLI11_PARSE(app, argc, argv);
  c.duration = std::chrono::milliseconds(duration_ms);
  std::printf("# larder-memory-bench (%u hardware threads)\n", std::thread::hardware_concurrency());
  if (c.wants("throughput")) throughput(c);
  if (c.wants("churn")) churn(c);
  if (c.wants("latency")) latency(c);
  if (c.wants("hitratio")) hit_ratio(c);
  if (c.wants("memory")) memory(c);
  return 0;
}
