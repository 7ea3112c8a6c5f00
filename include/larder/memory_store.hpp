// memory_store: the sharded, budgeted in-memory tier.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "larder/blob.hpp"
#include "larder/detail/flight_waiter.hpp"
#include "larder/eviction.hpp"
#include "larder/lookup.hpp"
#include "larder/metrics.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"

namespace larder {

/// Which entries go first when a shard is full.
enum class eviction_policy : unsigned char {
  /// S3-FIFO: a small probation FIFO, a main FIFO with reinsertion, and a ghost set of
  /// recently evicted keys. Scan-resistant; hits touch only a frequency byte, so reads
  /// share the shard lock. The default: it measures best (docs/PERFORMANCE.md).
  s3_fifo,
  /// Strict least-recently-used. A hit moves the entry, so it takes the lock exclusively.
  lru,
};

/// Options of one put (the async `put` overload and put_now).
struct put_options {
  /// This entry's own time to live; nullopt: the store's default_ttl; zero: none.
  std::optional<std::chrono::milliseconds> ttl{};
};

struct memory_store_options {
  /// Entry budget for the whole store (split evenly over the shards). 0 disables the store.
  std::uint64_t max_entries = 1'000'000;
  /// Byte budget for the whole store, held exactly: an entry weighs its key, its value and
  /// memory_store::entry_overhead (or what `weigher` says). Each shard holds a share; a
  /// shard whose next entry outweighs its share borrows byte credit from a shared pool
  /// and then from the other shards (which evict to lend it), so one large value fits
  /// whatever the shard count. 0 disables the store.
  std::uint64_t max_bytes = 512ull << 20;
  /// Largest value accepted, in bytes; 0: the whole byte budget. A value whose weight
  /// exceeds max_bytes is refused in any case (errc::value_too_large).
  std::uint64_t max_value_size = 0;
  /// The weight of an entry against max_bytes instead of key + value + entry_overhead.
  /// Called outside any lock, once per put; must not throw. Entries then carry 8 more
  /// bytes (their weight).
  std::function<std::uint64_t(std::string_view key, const blob& value)> weigher{};
  /// Rounded up to a power of two, at most 4096; 0 picks one from the budget (up to 64,
  /// at least ~256 entries each).
  unsigned shards = 0;
  eviction_policy policy = eviction_policy::s3_fifo;
  /// S3-FIFO's probation queue as a share of the budget, 1 to 50. The paper uses 10;
  /// 2 measured best on the Zipf hit-ratio benchmarks (docs/PERFORMANCE.md) because the
  /// ghost set gives a key evicted early from a small queue its second chance.
  unsigned small_queue_percent = 2;
  /// Time to live for entries put without their own; zero means no expiry.
  std::chrono::milliseconds default_ttl{0};
  /// Time to idle: an entry not read (hit) nor written for this long expires; zero: never.
  /// Each entry then carries 8 more bytes, and every hit refreshes its idle deadline.
  std::chrono::milliseconds time_to_idle{0};
  /// The clock for TTL, time to idle and eviction ages; empty: std::chrono::steady_clock.
  /// Tests inject one to advance time without sleeping. Called from any thread.
  std::function<std::chrono::steady_clock::time_point()> clock{};
  /// Where the expiry sweeper runs. Without one, expired entries are still never
  /// returned, and are reclaimed whenever their shard is next written.
  std::optional<asio::any_io_executor> sweep_executor{};
  std::chrono::milliseconds sweep_interval{1000};
  /// Values up to this size are copied into the entry's own allocation (one allocation,
  /// no separate value header); larger ones are kept by reference, never copied.
  std::size_t inline_value_limit = 512;
  /// invalidate_prefix walks a key-ordered index whose cost is only the matching
  /// entries. By default each shard builds it on its first invalidate_prefix (one pass
  /// over the shard), so stores that never invalidate by prefix pay neither its memory
  /// (~11 bytes per entry) nor its cost per put. Set this to keep it from the start.
  bool eager_prefix_index = false;
};

/// A sharded in-memory store. Keys hash (never by one key byte) to a power-of-two number
/// of shards, each with its own lock, index, eviction queues and budget. A hit hands out
/// a blob that shares the entry's storage: no copy, and the bytes stay valid after the
/// entry is evicted for as long as the caller holds the blob.
///
/// Every member may be called from any thread. The awaitable operations complete
/// without suspending (except get_or_load), so cancelling them has no effect.
class memory_store {
 public:
  /// Per-entry bookkeeping counted against the byte budget: the entry header, its index
  /// slot, ghost share and allocator header. larder-memory-bench measures 58-60 bytes at
  /// 1M entries (docs/PERFORMANCE.md); rounded up so the budget never under-counts.
  static constexpr std::size_t entry_overhead = 64;
  /// Keys are limited to this many bytes (a memory cache of longer keys wastes memory).
  static constexpr std::size_t max_key_size = 65535;

  explicit memory_store(memory_store_options options = {});
  ~memory_store();
  memory_store(const memory_store&) = delete;
  memory_store& operator=(const memory_store&) = delete;

  /// Hit, miss (also for expired entries); never a fault. Completes at once.
  asio::awaitable<lookup> get(key_view key);
  /// The synchronous form of get for hot paths outside coroutines.
  std::optional<blob> try_get(key_view key);

  /// Store `value` under `key` with the default TTL. Errors: errc::store_disabled (zero
  /// budget), errc::value_too_large (value over max_value_size, or weight over max_bytes:
  /// the entry held under the key is removed too and reported as rejected_put),
  /// errc::invalid_argument (key longer than max_key_size). Completes at once.
  asio::awaitable<std::error_code> put(key_view key, blob value);
  /// As put, with this put's own options (its TTL).
  asio::awaitable<std::error_code> put(key_view key, blob value, put_options options);
  /// As put, with this entry's own time to live (zero: none).
  std::error_code put_now(key_view key, blob value, std::chrono::milliseconds ttl);

  /// One lookup per key, in order, without a coroutine frame per key. Completes at once.
  asio::awaitable<std::vector<lookup>> get_many(std::span<const key_view> keys);
  /// One put per pair, in order; one error code per pair. Completes at once.
  asio::awaitable<std::vector<std::error_code>> put_many(
      std::span<const std::pair<key_view, blob>> items);

  asio::awaitable<result<bool>> erase(key_view key);
  /// Volatile: completes at once with success.
  asio::awaitable<std::error_code> flush();
  /// Removes matching entries shard by shard; cost grows with the matches plus the
  /// number of shards. A load in flight under a matching key is not installed.
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix);
  std::uint64_t invalidate_prefix_now(key_view prefix);

  /// The value under `key`, loading it with `loader` on a miss. Concurrent misses on
  /// one key, from any coroutines on any threads, run the loader once and all receive
  /// its result; a successful result is stored, a failure reaches every waiter and
  /// nothing is stored.
  ///
  /// `loader` is a callable returning asio::awaitable<result<blob>>. It runs detached on
  /// the first caller's executor and is kept alive until it completes, so cancelling
  /// one caller (its cancellation slot completes it with errc::cancelled) never cancels
  /// the load the others wait for. The store must outlive the call; the loader's result
  /// is not stored if the key is put, erased or invalidated while it runs, and a call that
  /// starts after such a change never joins a load that began before it. Every waiter
  /// completes however the load ends: if the install throws (an eviction listener), the
  /// waiters still receive the loaded value and the throw is counted in `errors`.
  ///
  /// Not a coroutine itself: GCC 12 destroys a temporary closure passed by value to a
  /// coroutine twice, so the loader is taken by reference and erased here, before any
  /// coroutine sees it. The loader must be copy- or move-constructible.
  template <class Loader>
  asio::awaitable<result<blob>> get_or_load(key_view key, Loader&& loader) {
    detail::load_function load = detail::erase_loader(std::forward<Loader>(loader));
    return get_or_load_erased(key, std::move(load));
  }

  metrics_snapshot metrics() const noexcept;
  /// The most recent eviction batch of every shard that has evicted.
  std::vector<eviction_report> eviction_reports() const;
  /// Called after each eviction, outside any lock, on the thread that caused it.
  /// Set it before sharing the store between threads. If it throws, the remaining
  /// evictions of that batch are still reported and released, then the first exception
  /// propagates to the put that caused them (in get_or_load: counted in `errors`).
  void set_eviction_listener(eviction_listener listener);
  /// Told of every departure with its cause: evicted by size, expired, erased, replaced,
  /// invalidated by prefix, removed by a refused put. Same rules as the eviction listener;
  /// both may be set. Set it before sharing the store between threads.
  void set_removal_listener(removal_listener listener);
  /// Reclaim every expired entry now; returns how many went.
  std::uint64_t reclaim_expired();

  unsigned shard_count() const noexcept;
  eviction_policy policy() const noexcept;

 private:
  struct impl;
  using load_function = detail::load_function;
  asio::awaitable<result<blob>> get_or_load_erased(key_view key, load_function load);
  void join_flight(key_view key, const asio::any_io_executor& executor,
                   std::unique_ptr<detail::flight_waiter> waiter, load_function load);

  std::shared_ptr<impl> impl_;
};

static_assert(store<memory_store>);

}  // namespace larder
