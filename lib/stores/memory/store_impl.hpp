// The memory store's state behind its public facade (memory_store.cpp): the shards, the
// byte budget and its credit pool, the listeners, the TTL sweeper. Private: included only by
// memory_store.cpp.
#pragma once

#include <algorithm>
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <bit>
#include <mutex>

#include "larder/memory_store.hpp"
#include "stores/memory/shard.hpp"

namespace larder {

using detail::mem::departures;
using detail::mem::entry;
using detail::mem::prehashed;
using detail::mem::shard;

namespace detail::mem {

// Counters are striped by thread so that two threads hitting one hot key never write
// the same counter line.
constexpr unsigned counter_stripes = 16;

inline unsigned thread_stripe() noexcept {
  return detail::mem::thread_index() % counter_stripes;
}

inline unsigned pick_shard_count(const memory_store_options& o) {
  if (o.shards != 0) return std::bit_ceil(std::min(o.shards, 4096u));
  // Enough shards to keep threads apart, few enough that each keeps ~256+ entries so
  // that per-shard queues still rank entries well.
  const auto by_budget = std::max<std::uint64_t>(1, o.max_entries / 256);
  return static_cast<unsigned>(std::bit_floor(std::min<std::uint64_t>(64, by_budget)));
}

}  // namespace detail::mem

using detail::mem::counter_stripes;
using detail::mem::pick_shard_count;
using detail::mem::thread_stripe;

struct memory_store::impl : std::enable_shared_from_this<impl> {
  explicit impl(memory_store_options o)
      : options(std::move(o)),
        disabled(options.max_entries == 0 || options.max_bytes == 0),
        epoch(options.clock ? options.clock() : std::chrono::steady_clock::now()) {
    const unsigned n = disabled ? 1 : pick_shard_count(options);
    shift = n == 1 ? 0 : 64 - static_cast<unsigned>(std::countr_zero(n));
    idle_ms = options.time_to_idle.count();
    max_value_size = options.max_value_size == 0 ? options.max_bytes : options.max_value_size;
    // Shares are whole bytes; the remainder starts in the pool, so that the limits and the
    // pool always add up to max_bytes exactly.
    const std::uint64_t share = options.max_bytes / n;
    pool.store(options.max_bytes - share * n);
    const detail::mem::shard_config config{
        std::max<std::uint64_t>(1, (options.max_entries + n - 1) / n),
        share,
        &pool,
        options.policy,
        std::clamp(options.small_queue_percent, 1u, 50u),
        options.eager_prefix_index};
    for (unsigned i = 0; i < n; ++i)
      shards.push_back(std::make_unique<shard>(i, config));
  }

  shard& shard_for(std::size_t hash) noexcept {
    // Top bits choose the shard; the table inside uses the low bits.
    return *shards[shift == 0 ? 0 : hash >> shift];
  }
  metric_counters& counters() noexcept { return stripes[thread_stripe()]; }

  std::chrono::steady_clock::time_point clock_now() const {
    return options.clock ? options.clock() : std::chrono::steady_clock::now();
  }
  std::int64_t now_ms() const noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_now() - epoch).count();
  }
  static std::uint32_t seconds(std::int64_t ms) noexcept {
    return static_cast<std::uint32_t>(ms / 1000);
  }

  bool expired(const entry* e) const noexcept {
    return e->expires() && e->effective_deadline_ms() <= now_ms();
  }
  // A hit: the policy's touch, and a new idle deadline (an atomic store: shared lock).
  void touch(shard& s, entry* e) {
    s.touch(e);
    if (e->has(detail::mem::flag_idle)) e->set_idle_deadline_ms(now_ms() + idle_ms);
  }

  // Hand departures to the listener and drop the shard's references, outside the lock.
  // Every reference is dropped even if the listener throws: the first throw is rethrown
  // once all are released, so the caller (a put's, or a flight leader's) sees it.
  void settle(departures& gone) {
    std::exception_ptr thrown;
    for (auto& d : gone) {
      if (d.evicted && listener) {
        try {
          listener(d.e->key(), d.weight, d.reason);
        } catch (...) {
          if (!thrown) thrown = std::current_exception();
        }
      }
      if (removals) {
        try {
          removals(d.e->key(), d.weight, d.cause);
        } catch (...) {
          if (!thrown) thrown = std::current_exception();
        }
      }
      detail::mem::release(d.e);
    }
    gone.clear();
    if (thrown) std::rethrow_exception(thrown);
  }

  std::optional<blob> find(key_view key) {
    const prehashed k{key, detail::mem::hash_key(key)};
    shard& s = shard_for(k.hash);
    std::optional<blob> out;
    auto take = [&] {
      entry* e = s.find(k);
      if (e && !expired(e)) {
        touch(s, e);
        out = e->value();
      }
    };
    if (options.policy == eviction_policy::s3_fifo) {
      std::shared_lock lock(s.mutex);
      take();
    } else {
      std::unique_lock lock(s.mutex);
      take();
    }
    counters().add(out ? counter::hits : counter::misses);
    return out;
  }

  // Store a value. With `load`, this installs that single-flight load's result: the
  // flight leaves the table under the same lock hold as the insert, and only a flight
  // still current (no removal or put of the key detached it) is installed, so a removal
  // can never slip between the check and the insert. A plain put detaches the key's
  // flight: a load that began before it must not overwrite it.
  std::error_code store(key_view key, const blob& value, std::chrono::milliseconds ttl,
                        const detail::flight* load = nullptr) {
    const prehashed k{key, detail::mem::hash_key(key)};
    if (disabled || key.size() > max_key_size) {
      if (load) end_flight(k, load);
      counters().add(counter::rejected_puts);
      return disabled ? errc::store_disabled : errc::invalid_argument;
    }
    const bool has_ttl = ttl.count() > 0;
    const bool weighed = static_cast<bool>(options.weigher);
    const std::uint64_t weight =
        weighed ? options.weigher(key, value) : key.size() + value.size() + entry_overhead;
    const auto now = now_ms();
    shard& s = shard_for(k.hash);
    departures gone;
    if (value.size() > max_value_size || weight > options.max_bytes) {
      // Refused: the key's old value goes too, so no get returns a value older than the
      // one the caller meant to store.
      {
        std::unique_lock lock(s.mutex);
        if (load) {
          s.flights.leave(key, load);
        } else {
          s.flights.detach(key, true);
        }
        s.reject(k, seconds(now), gone);
      }
      counters().add(counter::rejected_puts);
      settle(gone);
      return errc::value_too_large;
    }
    // Build the entry before taking the lock: allocation and copy stay outside it.
    entry* e = entry::create(key, value, value.size() <= options.inline_value_limit,
                             {.ttl = has_ttl, .idle = idle_ms > 0, .weighed = weighed});
    if (has_ttl) e->set_deadline_ms(now + ttl.count());
    if (idle_ms > 0) e->set_idle_deadline_ms(now + idle_ms);
    if (weighed) e->set_weight(weight);
    std::uint64_t credit = 0;
    // A few rounds at most: each borrows what was missing, and only a concurrent borrower
    // can take it away again in between.
    for (int round = 0;; ++round) {
      std::uint64_t missing = 0;
      {
        std::unique_lock lock(s.mutex);
        if (load) {
          // Still current, or a removal or put of the key detached it: then it stands
          // down. It leaves the table under the same lock hold as its insert.
          if (s.flights.find(key).get() != load) {
            s.add_credit(credit);
            s.settle_credit();
            lock.unlock();
            detail::mem::release(e);
            settle(gone);
            return {};
          }
        } else if (!load) {
          s.flights.detach(key, true);
        }
        s.add_credit(credit);
        credit = 0;
        if (s.next_deadline() <= now) s.reclaim_expired(now, seconds(now), gone);
        if (s.insert(e, k, seconds(now), gone) == shard::insert_outcome::stored) {
          if (load) s.flights.leave(key, load);
          break;
        }
        missing = weight - s.limit();
        if (round == 4) {
          if (load) s.flights.leave(key, load);
          s.settle_credit();
          lock.unlock();
          detail::mem::release(e);
          counters().add(counter::rejected_puts);
          settle(gone);
          return errc::value_too_large;
        }
      }
      settle(gone);
      credit = borrow(s, missing, seconds(now));
    }
    settle(gone);
    counters().add(counter::puts);
    if (has_ttl || idle_ms > 0) start_sweeper();
    return {};
  }

  // Gather `need` bytes of credit for `to`: from the pool, then evenly from the other
  // shards, then whatever they have left. One shard lock at a time, never with `to`'s.
  std::uint64_t borrow(const shard& to, std::uint64_t need, std::uint32_t now_s) {
    std::uint64_t got = 0;
    auto have = pool.load(std::memory_order_relaxed);
    std::uint64_t take;
    do {
      take = std::min(have, need);
    } while (take > 0 && !pool.compare_exchange_weak(have, have - take, std::memory_order_relaxed));
    got += take;
    const auto others = shards.size() - 1;
    departures gone;
    for (int pass = 0; pass < 2 && got < need && others > 0; ++pass) {
      const auto even = (need - got + others - 1) / others;
      for (auto& other : shards) {
        if (got >= need) break;
        if (other.get() == &to) continue;
        {
          std::unique_lock lock(other->mutex);
          got += other->lend(pass == 0 ? std::min(even, need - got) : need - got, now_s, gone);
        }
        settle(gone);
      }
    }
    return got;
  }

  void end_flight(const prehashed& k, const detail::flight* load) {
    shard& s = shard_for(k.hash);
    std::unique_lock lock(s.mutex);
    s.flights.leave(k.key, load);
  }

  bool remove(key_view key) {
    const prehashed k{key, detail::mem::hash_key(key)};
    shard& s = shard_for(k.hash);
    departures gone;
    bool removed;
    {
      std::unique_lock lock(s.mutex);
      removed = s.erase(k, gone);
    }
    settle(gone);
    return removed;
  }

  std::uint64_t remove_prefix(key_view prefix) {
    std::uint64_t removed = 0;
    departures gone;
    for (auto& s : shards) {
      {
        std::unique_lock lock(s->mutex);
        removed += s->erase_prefix(prefix, gone);
      }
      settle(gone);
    }
    return removed;
  }

  std::uint64_t reclaim() {
    std::uint64_t expired_count = 0;
    departures gone;
    const auto now = now_ms();
    for (auto& s : shards) {
      {
        std::unique_lock lock(s->mutex);
        if (s->next_deadline() <= now) expired_count += s->reclaim_expired(now, seconds(now), gone);
      }
      settle(gone);
    }
    return expired_count;
  }

  std::uint64_t ttl_entries() const {
    std::uint64_t n = 0;
    for (const auto& s : shards) {
      std::shared_lock lock(s->mutex);
      n += s->live_ttl_entries();
    }
    return n;
  }

  // The sweeper runs only while TTL entries exist, so it never keeps an io_context busy
  // on a store without them. It holds a weak reference: a destroyed store ends it.
  void start_sweeper() {
    if (!options.sweep_executor || sweeper_running.exchange(true)) return;
    asio::co_spawn(
        *options.sweep_executor,
        [weak = weak_from_this(), interval = options.sweep_interval,
         ex = *options.sweep_executor]() -> asio::awaitable<void> {
          asio::steady_timer timer(ex);
          for (;;) {
            timer.expires_after(interval);
            co_await timer.async_wait(asio::use_awaitable);
            auto self = weak.lock();
            if (!self) co_return;
            self->reclaim();
            if (self->ttl_entries() > 0) continue;
            self->sweeper_running.store(false);
            // A TTL put may have seen the flag still set: look once more.
            if (self->ttl_entries() == 0 || self->sweeper_running.exchange(true)) co_return;
          }
        },
        [](std::exception_ptr) {});
  }

  memory_store_options options;
  bool disabled;
  std::chrono::steady_clock::time_point epoch;
  std::vector<std::unique_ptr<shard>> shards;
  unsigned shift = 0;
  std::array<metric_counters, counter_stripes> stripes;
  eviction_listener listener;
  removal_listener removals;
  std::atomic<bool> sweeper_running{false};
  std::uint64_t max_value_size = 0;
  std::int64_t idle_ms = 0;
  std::atomic<std::uint64_t> pool{0};  // byte credit no shard holds (see shard.hpp)
};

}  // namespace larder
