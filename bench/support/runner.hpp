// Measurement harnesses: multi-threaded throughput in the style of Caffeine's
// GetPutBenchmark, a single-threaded hit-ratio driver, and batched ns/op timing. All of
// them drive any object with the synchronous get/put surface of the baselines; larder's
// coroutine stores take part through a small adaptor.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "larder/blob.hpp"
#include "support/belady.hpp"

namespace larder::bench {

template <class S>
concept bench_store = requires(S& s, std::string_view key, larder::blob& out, larder::blob v) {
  { s.get(key, out) } -> std::convertible_to<bool>;
  s.put(key, std::move(v));
};

/// Keeps the compiler from discarding a computation whose result is otherwise unused.
template <class T>
inline void do_not_optimize(const T& value) noexcept {
  asm volatile("" : : "r,m"(value) : "memory");
}

/// A value of `size` bytes whose content depends on `tag`. Every key gets its own value
/// (and so its own reference count): if all entries shared one blob, every hit on every
/// thread would bump the same counter and the benchmark would measure that cache line.
inline larder::blob make_value(std::size_t size, std::uint64_t tag) {
  larder::blob_buffer buffer(size);
  auto bytes = buffer.bytes();
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<std::byte>((tag >> (8 * (i % 8))) + i);
  return std::move(buffer).freeze();
}

/// Puts a distinct value under every key, so that reads of a large enough store all hit.
template <bench_store S>
void prepopulate(S& store, std::span<const std::string> keys, std::size_t value_size) {
  for (std::size_t id = 0; id < keys.size(); ++id)
    store.put(keys[id], make_value(value_size, id));
}

struct throughput_options {
  unsigned threads = 1;
  double read_fraction = 1.0;  ///< 1.0 = reads only, 0.75 = 75/25, 0.0 = writes only
  /// Each thread runs exactly this many operations; 0 = run for `duration` instead.
  std::uint64_t ops_per_thread = 0;
  std::chrono::milliseconds duration{1000};
  std::size_t value_size = 64;  ///< size of the values writes put
};

struct throughput_result {
  unsigned threads = 0;
  double read_fraction = 0.0;
  std::uint64_t ops = 0;  ///< over all threads
  std::uint64_t reads = 0;
  std::uint64_t read_hits = 0;
  double seconds = 0.0;  ///< from the common start to the last thread's end

  double ops_per_second() const noexcept {
    return seconds > 0.0 ? static_cast<double>(ops) / seconds : 0.0;
  }
  /// 1.0 after prepopulate() on a store large enough; anything less means the run
  /// measured misses, not hits.
  double read_hit_ratio() const noexcept {
    return reads == 0 ? 0.0 : static_cast<double>(read_hits) / static_cast<double>(reads);
  }
};

/// Runs get/put over `trace` (ids into `keys`) on `threads` threads at once. Thread t
/// starts at offset t * size / threads, so threads do not walk the trace in lockstep.
/// Reads and writes interleave per operation in the exact ratio (Caffeine splits readers
/// and writers into thread groups instead, which a 1-thread run cannot do). Call
/// prepopulate() first so reads hit.
template <bench_store S>
throughput_result run_throughput(S& store, std::span<const std::uint32_t> trace,
                                 std::span<const std::string> keys,
                                 const throughput_options& options) {
  using clock = std::chrono::steady_clock;
  if (trace.empty()) throw std::invalid_argument("run_throughput: empty trace");
  if (!(options.read_fraction >= 0.0 && options.read_fraction <= 1.0))
    throw std::invalid_argument("run_throughput: read_fraction outside [0, 1]");
  const unsigned threads = std::max(1u, options.threads);
  // Writes per 1024 operations, applied with an integer accumulator: exact, and the same
  // sequence of reads and writes for every store.
  const auto writes_per_1024 =
      static_cast<std::uint32_t>((1.0 - options.read_fraction) * 1024.0 + 0.5);
  constexpr std::uint64_t chunk = 1024;  // operations between looks at the stop flag
  constexpr std::size_t value_pool = 1024;

  struct alignas(64) slot {
    std::uint64_t ops = 0;
    std::uint64_t reads = 0;
    std::uint64_t hits = 0;
    clock::time_point end{};
  };
  std::vector<slot> slots(threads);
  std::atomic<unsigned> ready{0};
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};

  const auto worker = [&](unsigned t) {
    // Values for writes are made before the start: the timed loop must not allocate.
    std::vector<larder::blob> values;
    values.reserve(value_pool);
    for (std::size_t i = 0; i < value_pool; ++i)
      values.push_back(make_value(options.value_size, (std::uint64_t{t} << 32) | i));
    std::size_t pos = trace.size() * t / threads;
    std::uint32_t write_debt = 0;
    std::size_t next_value = 0;
    std::uint64_t ops = 0, reads = 0, hits = 0;
    larder::blob out;

    ready.fetch_add(1, std::memory_order_acq_rel);
    while (!go.load(std::memory_order_acquire))
      std::this_thread::yield();

    for (;;) {
      std::uint64_t n = chunk;
      if (options.ops_per_thread != 0) {
        n = std::min(chunk, options.ops_per_thread - ops);
        if (n == 0) break;
      } else if (stop.load(std::memory_order_relaxed)) {
        break;
      }
      for (std::uint64_t i = 0; i < n; ++i) {
        const std::string& key = keys[trace[pos]];
        if (++pos == trace.size()) pos = 0;
        write_debt += writes_per_1024;
        if (write_debt >= 1024) {
          write_debt -= 1024;
          store.put(key, values[next_value]);
          if (++next_value == value_pool) next_value = 0;
        } else {
          ++reads;
          hits += store.get(key, out) ? 1 : 0;
        }
      }
      ops += n;
    }
    const auto end = clock::now();
    do_not_optimize(out.size());
    slots[t].ops = ops;
    slots[t].reads = reads;
    slots[t].hits = hits;
    slots[t].end = end;
  };

  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back(worker, t);
  while (ready.load(std::memory_order_acquire) != threads)
    std::this_thread::yield();
  const auto start = clock::now();
  go.store(true, std::memory_order_release);
  if (options.ops_per_thread == 0) {
    std::this_thread::sleep_for(options.duration);
    stop.store(true, std::memory_order_relaxed);
  }
  for (auto& th : pool)
    th.join();

  throughput_result result;
  result.threads = threads;
  result.read_fraction = options.read_fraction;
  auto last = start;
  for (const slot& s : slots) {
    result.ops += s.ops;
    result.reads += s.reads;
    result.read_hits += s.hits;
    last = std::max(last, s.end);
  }
  result.seconds = std::chrono::duration<double>(last - start).count();
  return result;
}

/// Demand-fill on one thread: get every key of the trace, put it on a miss. This is the
/// loop the hit-ratio tables of foyer and the S3-FIFO paper run.
template <bench_store S>
hit_stats run_hit_ratio(S& store, std::span<const std::uint32_t> trace,
                        std::span<const std::string> keys, std::size_t value_size = 64) {
  // One shared value is fine here: there is a single thread, so no counter contention.
  const larder::blob value = make_value(value_size, 0);
  hit_stats stats{0, trace.size()};
  larder::blob out;
  for (const std::uint32_t id : trace) {
    if (store.get(keys[id], out))
      ++stats.hits;
    else
      store.put(keys[id], value);
  }
  return stats;
}

struct latency_result {
  std::uint64_t iterations = 0;
  double mean_ns = 0.0;        ///< total time / iterations
  double best_batch_ns = 0.0;  ///< ns/op of the fastest batch: least disturbed by the OS
};

/// Times `op` over `iterations` calls as batches of `batch` calls, reading the clock once
/// per batch: a steady_clock read costs about as much as a cache hit, so reading it per
/// call would measure the clock. `op` is called as op(i) when it takes the index, else op().
template <class F>
latency_result measure_latency(F&& op, std::uint64_t iterations, std::uint64_t batch = 1000) {
  using clock = std::chrono::steady_clock;
  latency_result result;
  if (iterations == 0) return result;
  batch = std::max<std::uint64_t>(1, batch);
  double best = std::numeric_limits<double>::infinity();
  clock::duration total{};
  for (std::uint64_t done = 0; done < iterations;) {
    const std::uint64_t n = std::min(batch, iterations - done);
    const auto begin = clock::now();
    for (std::uint64_t i = done; i < done + n; ++i) {
      if constexpr (std::is_invocable_v<F&, std::uint64_t>)
        op(i);
      else
        op();
    }
    const auto elapsed = clock::now() - begin;
    total += elapsed;
    best = std::min(
        best, std::chrono::duration<double, std::nano>(elapsed).count() / static_cast<double>(n));
    done += n;
  }
  result.iterations = iterations;
  result.mean_ns =
      std::chrono::duration<double, std::nano>(total).count() / static_cast<double>(iterations);
  result.best_batch_ns = best;
  return result;
}

}  // namespace larder::bench
