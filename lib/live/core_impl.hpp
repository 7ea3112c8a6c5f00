// The shared state behind detail::live_core (private to lib/live/).
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/fill_guard.hpp"
#include "core/single_flight.hpp"
#include "larder/detail/live_core.hpp"
#include "live/page_index.hpp"

namespace larder::detail {

enum class live_stat : unsigned {
  page_hits,
  page_misses,
  row_hits,
  row_misses,
  fetches,
  shared_fetches,
  fetch_faults,
  fills,
  fills_dropped,
  fill_faults,
  store_faults,
  decode_faults,
  bypassed_reads,
  invalidations,
  row_invalidations,
  pages_untracked,
  echoes_skipped,
  patches,
  patches_dropped,
  invalidation_faults,
  entries_invalidated,
  writes,
  write_faults,
  write_retries,
  writes_cancelled,
  events,
  resyncs,
  event_faults,
  stale_served,
  refreshes,
  watch_lagged,
  count_
};

/// Which counters a fill's outcome goes to: a fetch's, or an optimistic write's rewrite.
struct fill_stats {
  live_stat landed = live_stat::fills;
  live_stat dropped = live_stat::fills_dropped;
};

/// An optimistic write's fills, begun before the write reaches the source, so that any
/// change the guard sees from then on (other than the write's own invalidation) keeps
/// its rewrites out; `bytes` is each cached page as read then.
struct optimistic_fills {
  struct page {  // an offset or a cursor page
    page(fill_guard& guard, std::string k) : key(std::move(k)), ticket(guard, key), bytes() {}
    std::string key;
    fill_ticket ticket;
    std::optional<blob> bytes;
  };
  std::string id;
  std::optional<fill_ticket> row;
  std::vector<std::unique_ptr<page>> pages;
};

/// A write waiting for the worker, and where its outcome goes.
struct queued_write {
  using done_channel =
      asio::experimental::concurrent_channel<void(std::error_code, result<write_receipt>)>;
  queued_write(write_job j, const asio::any_io_executor& ex) : job(std::move(j)), done(ex, 1) {}
  write_job job;
  done_channel done;
};

struct live_core::impl : std::enable_shared_from_this<live_core::impl> {
  using queue_channel =
      asio::experimental::concurrent_channel<void(std::error_code, std::shared_ptr<queued_write>)>;
  // Not void(error_code): that signature is ambiguous in Asio 1.22's channel traits.
  using done_signal = asio::experimental::concurrent_channel<void(std::error_code, bool)>;

  impl(asio::any_io_executor ex, any_store s, live_table_options o);

  void add(live_stat s, std::uint64_t n = 1) noexcept {
    stats[static_cast<unsigned>(s)].fetch_add(n, std::memory_order_relaxed);
  }

  // Reads (core.cpp).
  using id_sink = std::shared_ptr<std::vector<std::string>>;
  void join(std::string_view key, const asio::any_io_executor& executor,
            std::unique_ptr<flight_waiter> waiter, load_function load, id_sink ids);
  void lead(const asio::any_io_executor& executor, std::string key, std::shared_ptr<flight> f,
            load_function load, id_sink ids);
  /// Store a fill unless an invalidation overlapped it. `own_tag`: a tag the fill's own
  /// write opened (an optimistic rewrite's), passed over once when judging staleness.
  asio::awaitable<void> install(const std::string& key, const blob& value, fill_ticket& ticket,
                                const std::vector<std::string>& ids, std::string_view own_tag = {},
                                fill_stats stats = {});
  asio::awaitable<result<std::uint64_t>> invalidate(std::optional<live_notification> note);
  asio::awaitable<result<std::uint64_t>> invalidate_change(live_notification note,
                                                           std::vector<std::string> ids);
  std::string page_key(std::uint64_t number) const;
  std::string cursor_key(std::string_view after) const;
  std::string row_key(std::string_view id) const;

  // The table's own writes, by tag (write_op::tag), for recognising their echoes.
  std::uint64_t own_begin();
  bool own_echo(std::uint64_t tag);               // an event carries `tag`: true if it is ours
  bool own_end(std::uint64_t tag, bool applied);  // true: failed, yet its echo was skipped
  void publish(const live_notification& note);
  void close_watchers();

  // Optimistic writes (optimistic.cpp): begun before the write is applied, landed after
  // its invalidation.
  bool optimistic(const write_job& job) const;
  asio::awaitable<optimistic_fills> begin_optimistic(const write_job& job);
  asio::awaitable<void> land_optimistic(optimistic_fills& fills, const write_patch& patch,
                                        change_kind kind);

  // Writes, events and shutdown (queue.cpp).
  asio::awaitable<result<write_receipt>> run(write_job& job);
  bool begin_shutdown(shutdown_mode how);
  void job_abandoned();
  void wake_worker();

  asio::any_io_executor executor;
  any_store store;
  live_table_options options;
  std::string prefix;  // <cache_key>/

  // The group's generation: bumped by every invalidation, reported in metrics and in
  // notifications. Fills are kept from landing after an invalidation by `fills`: each
  // fetch's install is a fill of its key, each invalidation a writer scope over the
  // group prefix (core/fill_guard.hpp).
  std::atomic<std::uint64_t> generation{0};
  // An invalidation failed: entries may be stale, so reads bypass the store and fills
  // are dropped until one succeeds.
  std::atomic<bool> dirty{false};
  std::atomic<bool> healing{false};
  fill_guard fills;
  // With invalidation_mode::rows: cached pages and the rows they hold.
  std::mutex index_mutex;
  page_index index;

  struct own_write {
    bool done = false, echoed = false;
  };
  std::mutex own_mutex;
  std::uint64_t own_nonce = 0, own_next = 0;
  absl::flat_hash_map<std::uint64_t, own_write> own;
  std::deque<std::uint64_t> own_order;  // oldest first, bounded by max_tracked_writes

  std::mutex mutex;  // flights, and the queue's bookkeeping below
  flight_table flights;
  std::uint64_t outstanding = 0;  // writes accepted and not finished
  bool closing = false;
  shutdown_mode mode = shutdown_mode::drain;
  std::uint64_t drained = 0, cancelled = 0;
  bool worker_started = false, consumer_started = false;

  queue_channel queue;
  done_signal worker_done, consumer_done;
  asio::strand<asio::any_io_executor> consumer_strand;
  asio::cancellation_signal consumer_stop;  // emitted on consumer_strand only
  std::atomic<bool> stopping{false};

  struct watcher {
    std::weak_ptr<watch_channel> channel;
    bool lagged = false;
  };
  std::mutex watch_mutex;
  std::vector<watcher> watchers;
  bool watchers_closed = false;

  std::array<std::atomic<std::uint64_t>, static_cast<unsigned>(live_stat::count_)> stats{};
};

}  // namespace larder::detail
