// Pieces of larder-disk-bench: scratch directories, keys and values, timers, a blocking
// thread runner, and `larder_disk`, which owns an io_context, an io engine and a disk_store
// and runs coroutine workers over them.
#pragma once

#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "larder/disk_store.hpp"
#include "larder/io_engine.hpp"
#include "support/runner.hpp"

namespace larder::bench {

/// A fresh directory per run under one scratch root, removed at exit unless kept.
class scratch {
 public:
  scratch(const std::string& parent, bool keep) : keep_(keep) {
    std::string base = parent;
    if (base.empty()) base = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    std::string templ = base + "/larder-disk-bench.XXXXXX";
    if (!::mkdtemp(templ.data())) {
      std::perror("mkdtemp");
      std::exit(1);
    }
    root_ = templ;
  }
  ~scratch() {
    if (!keep_) {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }
  const std::string& root() const { return root_; }
  /// Removes a finished run's directory, so that the runs after it find the space free.
  static void drop(const std::string& path) {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  /// A path for a new run; the blocking baseline and fio need it to exist, larder makes it.
  std::string fresh(const std::string& what, bool make = true) {
    auto path = root_ + "/" + what + "-" + std::to_string(next_++);
    if (make && what != "larder" && what != "index") std::filesystem::create_directories(path);
    return path;
  }

 private:
  std::string root_;
  bool keep_;
  unsigned next_ = 0;
};

inline std::vector<std::string> make_keys(const std::string& tag, unsigned count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (unsigned i = 0; i < count; ++i)
    keys.push_back("bench/" + tag + "/" + std::to_string(i));
  return keys;
}

// 32-byte keys of hex digits spread over the key space (the index and open sections).
inline std::vector<std::string> make_hex_keys(unsigned count) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    char key[33];
    std::snprintf(key, sizeof key, "%032x", i * 2654435761u);
    keys.emplace_back(key, 32);
  }
  return keys;
}

inline std::vector<larder::blob> make_values(std::size_t size, unsigned count) {
  std::vector<larder::blob> values;
  for (unsigned i = 0; i < count; ++i)
    values.push_back(make_value(size, i + 1));
  return values;
}

inline std::string size_label(std::size_t size) {
  return size >= (1u << 20) ? std::to_string(size >> 20) + " MiB"
                            : std::to_string(size >> 10) + " KiB";
}

inline double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

template <class F>
double timed_ops(std::uint64_t ops, F&& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return static_cast<double>(ops) / (ms_since(start) / 1000.0);
}

template <class F>
double timed_bytes(std::uint64_t count, std::size_t size, F&& run) {
  return timed_ops(count, std::forward<F>(run)) * static_cast<double>(size);
}

/// Calls `op(i)` for every i below `count`, spread over `threads` blocking threads.
template <class F>
void run_threads(unsigned threads, unsigned count, F&& op) {
  std::atomic<unsigned> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (unsigned i = next++; i < count; i = next++)
        op(i);
    });
  for (auto& t : pool)
    t.join();
}

/// Heap chunks plus mmapped blocks in use (glibc).
// The process's resident set (VmRSS), in bytes; 0 when /proc cannot tell.
inline std::size_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long long pages = 0, resident = 0;
  const bool ok = std::fscanf(f, "%llu %llu", &pages, &resident) == 2;
  std::fclose(f);
  return ok ? static_cast<std::size_t>(resident) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))
            : 0;
}

inline std::size_t heap_in_use() {
  const auto info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

struct latency_figures {
  double p50_ns = 0;
  double p99_ns = 0;
};

/// A disk_store on its own io_context and io engine (the automatic backend).
class larder_disk {
 public:
  explicit larder_disk(std::string root, larder::io_engine_options io_options = {}) {
    engine_ = larder::io_engine::create(io_, io_options);
    larder::disk_store_options options;
    options.root = std::move(root);
    options.max_bytes = 64ull << 30;
    asio::co_spawn(
        io_, larder::disk_store::open(engine_, std::move(options)),
        [this](std::exception_ptr e, larder::result<std::unique_ptr<larder::disk_store>> r) {
          if (e || !r) {
            std::fprintf(stderr, "opening the disk store failed: %s\n",
                         e ? "exception" : r.error().message().c_str());
            std::exit(1);
          }
          store_ = std::move(*r);
        });
    run(1);
  }
  ~larder_disk() {
    store_.reset();
    engine_.reset();
  }

  static std::string backend_name() {
    asio::io_context io;
    return std::string(larder::io_engine::create(io)->metrics().backend);
  }

  larder::disk_store& store() { return *store_; }
  void note_miss() { misses_.fetch_add(1, std::memory_order_relaxed); }

  /// `inflight` coroutines per thread call `op(i)` for every i below `count`.
  void workers(unsigned threads, unsigned inflight, unsigned count,
               std::function<asio::awaitable<void>(unsigned)> op) {
    std::atomic<unsigned> next{0};
    for (unsigned w = 0; w < threads * inflight; ++w)
      asio::co_spawn(io_, worker(next, count, op), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
    run(threads);
  }

  void flush() {
    asio::co_spawn(io_, store_->flush(), [](std::exception_ptr, std::error_code ec) {
      if (ec) std::fprintf(stderr, "flush failed: %s\n", ec.message().c_str());
    });
    run(1);
  }

  /// save_index(); exits on failure (a figure measured without it would mislead).
  void save_index() {
    asio::co_spawn(io_, store_->save_index(), [](std::exception_ptr, std::error_code ec) {
      if (!ec) return;
      std::fprintf(stderr, "save_index failed: %s\n", ec.message().c_str());
      std::exit(1);
    });
    run(1);
  }

  /// Per-get latency with `depth` gets in flight on one thread.
  template <class KeyOf>
  latency_figures latencies(unsigned depth, unsigned ops, KeyOf key_of) {
    std::vector<std::int64_t> samples(ops);
    workers(1, depth, ops, [&](unsigned i) -> asio::awaitable<void> {
      const auto start = std::chrono::steady_clock::now();
      auto found = co_await store_->get(key_of(i));
      samples[i] = (std::chrono::steady_clock::now() - start).count();
      if (!found.is_hit()) note_miss();
    });
    std::sort(samples.begin(), samples.end());
    return {static_cast<double>(samples[ops / 2]), static_cast<double>(samples[ops * 99 / 100])};
  }

  /// A benchmark of a store that faults measures nothing: stop loudly.
  void check_faults(const char* section) {
    const auto m = store_->disk_metrics();
    if (m.io_errors || m.corrupt_entries || misses_) {
      std::fprintf(stderr, "%s: %llu I/O errors, %llu corrupt entries, %llu misses\n", section,
                   static_cast<unsigned long long>(m.io_errors),
                   static_cast<unsigned long long>(m.corrupt_entries),
                   static_cast<unsigned long long>(misses_.load()));
      std::exit(1);
    }
  }

 private:
  static asio::awaitable<void> worker(std::atomic<unsigned>& next, unsigned count,
                                      std::function<asio::awaitable<void>(unsigned)>& op) {
    for (unsigned i = next++; i < count; i = next++)
      co_await op(i);
  }

  void run(unsigned threads) {
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t)
      pool.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : pool)
      t.join();
    io_.restart();
  }

  asio::io_context io_;
  std::shared_ptr<larder::io_engine> engine_;
  std::unique_ptr<larder::disk_store> store_;
  std::atomic<std::uint64_t> misses_{0};
};

}  // namespace larder::bench
