#include "larder_bench/runner.hpp"

#include <asio/co_spawn.hpp>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>

#include "larder_bench/progress.hpp"

namespace larder::bench {
namespace {

using clock = std::chrono::steady_clock;

std::uint64_t ns_since(clock::time_point t0) noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - t0).count());
}

// One thread's share of a phase. Only that thread touches it while the phase runs, except
// the live_* counters, which the main thread reads for the progress display.
struct alignas(64) thread_state {
  const thread_trace* trace = nullptr;
  bool bounded = false;  // take `limit` steps; otherwise run until stopped
  std::uint64_t limit = 0;
  std::uint64_t taken = 0;   // steps started
  std::uint64_t cursor = 0;  // trace position of step 0
  std::uint64_t flush_interval = 0;
  unsigned running = 0;  // coroutines not yet finished
  run_stats stats;
  alignas(64) std::atomic<std::uint64_t> live_ops{0};
  std::atomic<std::uint64_t> live_gets{0};
  std::atomic<std::uint64_t> live_hits{0};
};

struct phase_state {
  std::atomic<bool> stop{false};
  std::mutex mutex;
  std::condition_variable done_cv;
  unsigned threads_done = 0;
  clock::time_point end{};
  std::exception_ptr failure;
};

void note(run_stats& s, std::error_code ec, const char* what) {
  if (s.first_error.empty()) s.first_error = std::string(what) + ": " + ec.message();
}

void account_put(run_stats& s, std::error_code ec, std::size_t size) {
  if (!ec) {
    s.bytes_put += size;
  } else if (ec == errc::value_too_large || ec == errc::store_disabled) {
    ++s.rejected_puts;  // the store's policy, not a fault
  } else {
    ++s.put_errors;
    note(s, ec, "put");
  }
}

// One of a thread's `inflight` coroutines: takes the thread's next step until the phase
// ends. Every co_await result lands in a named local (GCC 12, see the project rules).
asio::awaitable<void> worker(any_store& store, const workload& w, bool verify, thread_state& st,
                             const std::atomic<bool>& stop) {
  const auto& keys = st.trace->keys;
  const auto& ops = st.trace->ops;
  const std::size_t length = keys.size();
  run_stats& s = st.stats;
  while (!stop.load(std::memory_order_relaxed)) {
    if (st.bounded && st.taken >= st.limit) break;
    const std::uint64_t step = st.taken++;
    const auto at = static_cast<std::size_t>((st.cursor + step) % length);
    const std::uint32_t id = keys[at];
    const key_view key = w.key(id);
    switch (ops[at]) {
      case op_kind::get: {
        const auto t0 = clock::now();
        lookup found = co_await store.get(key);
        s.latency[static_cast<std::size_t>(op_kind::get)].record(ns_since(t0));
        ++s.gets;
        if (found.is_hit()) {
          ++s.hits;
          s.bytes_hit += found.value().size();
          if (verify && !w.value_matches(id, found.value())) ++s.wrong_values;
          st.live_hits.store(s.hits, std::memory_order_relaxed);
        } else {
          if (found.is_fault()) {
            ++s.get_faults;
            note(s, found.error(), "get");
          } else {
            ++s.misses;
          }
          // Cache-aside: the caller loads the value and puts it, so the hit ratio settles.
          blob value = w.make_value(id);
          const std::size_t size = value.size();
          const auto t1 = clock::now();
          const std::error_code ec = co_await store.put(key, std::move(value));
          s.latency[static_cast<std::size_t>(op_kind::fill)].record(ns_since(t1));
          ++s.fills;
          account_put(s, ec, size);
        }
        st.live_gets.store(s.gets, std::memory_order_relaxed);
        break;
      }
      case op_kind::put: {
        blob value = w.make_value(id);  // made before the clock starts: the store is timed
        const std::size_t size = value.size();
        const auto t0 = clock::now();
        const std::error_code ec = co_await store.put(key, std::move(value));
        s.latency[static_cast<std::size_t>(op_kind::put)].record(ns_since(t0));
        ++s.puts;
        account_put(s, ec, size);
        break;
      }
      case op_kind::invalidate: {
        // The whole key as the prefix: the invalidation path, removing exactly this key
        // (all keys have one length, so none is a prefix of another).
        const auto t0 = clock::now();
        result<std::uint64_t> removed = co_await store.invalidate_prefix(key);
        s.latency[static_cast<std::size_t>(op_kind::invalidate)].record(ns_since(t0));
        ++s.invalidates;
        if (removed)
          s.invalidated += *removed;
        else {
          ++s.invalidate_errors;
          note(s, removed.error(), "invalidate");
        }
        break;
      }
      case op_kind::fill:
      case op_kind::flush:
        break;  // never drawn into a trace
    }
    ++s.ops;
    st.live_ops.store(s.ops, std::memory_order_relaxed);
    if (st.flush_interval != 0 && (step + 1) % st.flush_interval == 0) {
      const auto t0 = clock::now();
      const std::error_code ec = co_await store.flush();
      s.latency[static_cast<std::size_t>(op_kind::flush)].record(ns_since(t0));
      ++s.flushes;
      if (ec) {
        ++s.flush_errors;
        note(s, ec, "flush");
      }
    }
  }
}

}  // namespace

void run_stats::merge(const run_stats& o) {
  for (std::size_t k = 0; k < op_kind_count; ++k)
    latency[k].merge(o.latency[k]);
  ops += o.ops;
  gets += o.gets;
  hits += o.hits;
  misses += o.misses;
  get_faults += o.get_faults;
  wrong_values += o.wrong_values;
  puts += o.puts;
  fills += o.fills;
  rejected_puts += o.rejected_puts;
  put_errors += o.put_errors;
  invalidates += o.invalidates;
  invalidated += o.invalidated;
  invalidate_errors += o.invalidate_errors;
  flushes += o.flushes;
  flush_errors += o.flush_errors;
  bytes_put += o.bytes_put;
  bytes_hit += o.bytes_hit;
  if (first_error.empty()) first_error = o.first_error;
}

phase_result run_phase(runtime& rt, any_store& store, const workload& w, const bench_config& c,
                       const phase_spec& spec, std::vector<std::uint64_t>& cursors,
                       const std::atomic<bool>& interrupt, progress_display* progress) {
  const unsigned n = rt.size();
  cursors.resize(n, 0);
  std::vector<std::unique_ptr<thread_state>> states;
  for (unsigned t = 0; t < n; ++t) {
    auto st = std::make_unique<thread_state>();
    st->trace = &w.trace(t);
    st->cursor = cursors[t];
    // Exactly spec.ops steps in all: the first spec.ops % n threads take one more.
    st->bounded = spec.ops != 0;
    if (st->bounded) st->limit = spec.ops / n + (t < spec.ops % n ? 1 : 0);
    if (c.flush_every != 0) st->flush_interval = std::max<std::uint64_t>(1, c.flush_every / n);
    st->running = c.inflight;
    states.push_back(std::move(st));
  }

  phase_state phase;
  const auto start = clock::now();
  for (unsigned t = 0; t < n; ++t) {
    thread_state& st = *states[t];
    for (unsigned k = 0; k < c.inflight; ++k) {
      asio::co_spawn(rt.context(t), worker(store, w, c.verify, st, phase.stop),
                     [&phase, &st, n](std::exception_ptr e) {
                       // Runs on thread t: `running` is that thread's alone.
                       if (e) {
                         std::lock_guard lock(phase.mutex);
                         if (!phase.failure) phase.failure = e;
                         phase.stop = true;
                       }
                       if (--st.running != 0) return;
                       std::lock_guard lock(phase.mutex);
                       if (++phase.threads_done == n) phase.end = clock::now();
                       phase.done_cv.notify_all();
                     });
    }
  }

  phase_result out;
  const auto deadline = spec.ops != 0 ? clock::time_point::max()
                                      : start + std::chrono::duration_cast<clock::duration>(
                                                    std::chrono::duration<double>(spec.seconds));
  std::unique_lock lock(phase.mutex);
  while (phase.threads_done < n) {
    // Wake for the progress display, and exactly at the deadline of a timed phase.
    const auto tick = clock::now() + std::chrono::milliseconds(100);
    phase.done_cv.wait_until(lock, phase.stop ? tick : std::min(tick, deadline));
    const auto now = clock::now();
    if (!phase.stop && interrupt.load()) out.interrupted = true;
    if (!phase.stop && (now >= deadline || out.interrupted)) phase.stop = true;
    if (progress && phase.threads_done < n) {
      lock.unlock();
      std::uint64_t ops = 0, gets = 0, hits = 0;
      for (const auto& st : states) {
        ops += st->live_ops.load(std::memory_order_relaxed);
        gets += st->live_gets.load(std::memory_order_relaxed);
        hits += st->live_hits.load(std::memory_order_relaxed);
      }
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double done = spec.ops != 0 ? static_cast<double>(ops) / static_cast<double>(spec.ops)
                                        : elapsed / spec.seconds;
      progress->update(done, elapsed, ops, gets, hits);
      lock.lock();
    }
  }
  lock.unlock();
  if (progress) progress->finish();
  if (phase.failure) std::rethrow_exception(phase.failure);

  out.seconds = std::chrono::duration<double>(phase.end - start).count();
  for (unsigned t = 0; t < n; ++t) {
    out.stats.merge(states[t]->stats);
    cursors[t] += states[t]->taken;
  }
  return out;
}

}  // namespace larder::bench
