// The row-type-independent machinery of live_table, compiled in lib/live/: keys, the
// group generation and fill guard (with per-page and per-row tag scopes in rows mode),
// the page index, single-flight fetches, the write queue and its worker, the event
// consumer, watchers and shutdown. live_table<Source, Codec> erases the source
// and codec calls into the functions below.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "larder/any_store.hpp"
#include "larder/blob.hpp"
#include "larder/live_source.hpp"
#include "larder/live_table_options.hpp"
#include "larder/lookup.hpp"
#include "larder/result.hpp"

namespace larder::detail {

/// Fetches one row set from the source and encodes it.
using fetch_function = std::function<asio::awaitable<result<blob>>()>;
/// The same, also appending the ids of the rows it read to `*ids` (the table maps pages
/// to their rows from them).
using fetch_rows_function =
    std::function<asio::awaitable<result<blob>>(std::vector<std::string>* ids)>;
/// An optimistic write's rewrite of the cache (live_table_options::optimistic_writes):
/// the row's new entry, and how to rewrite a cached page that holds the row.
struct write_patch {
  blob row_entry;
  /// The page's bytes with the row replaced, and the ids it holds; an error when the
  /// page does not decode or no longer holds the row.
  std::function<result<std::pair<blob, std::vector<std::string>>>(const blob& page)> repage;
};
/// Applies one write to the source, tagging the op with `tag` (write_op::tag). With
/// `patch` set (the job returns rows), also sets `*patch` from the committed row when the
/// source returned one.
using apply_function = std::function<asio::awaitable<result<write_receipt>>(
    std::uint64_t tag, std::optional<write_patch>* patch)>;
/// Waits for the source's next change event.
using event_function = std::function<asio::awaitable<result<change_event>>()>;

/// One queued write: how to apply it and what to tell watchers when it went through.
struct write_job {
  apply_function apply;
  change_kind kind = change_kind::changed;
  std::string id;
  bool returns_row = false;  ///< `apply` can fill a write_patch
};

enum class read_target : unsigned char { page, row };

/// A handle; copies share one table state. Every member is safe from any thread.
class live_core {
 public:
  /// Checks the options (errc::invalid_argument: empty cache_key or one containing '/',
  /// zero page size, queue capacity or write attempts).
  static result<live_core> create(asio::any_io_executor executor, any_store store,
                                  live_table_options options);

  const live_table_options& options() const noexcept;
  const asio::any_io_executor& executor() const noexcept;
  /// `<cache_key>/`: the terminated prefix every invalidation uses.
  const std::string& group_prefix() const noexcept;
  std::string page_key(std::uint64_t number) const;
  /// `<cache_key>/after/<after>`: the cursor page of the rows following `after`.
  std::string cursor_key(std::string_view after) const;
  std::string row_key(std::string_view id) const;

  /// Invalidates the group once (changes made while no table watched are unknown), then
  /// starts the write worker and, when `events` is set, the event consumer.
  asio::awaitable<std::error_code> start(event_function events);

  /// The store's entry under `key`. A miss when the group is dirty (an invalidation
  /// failed and has not been redone: then reads go to the source) or the store faulted
  /// (counted). Counts nothing else: the caller knows whether the entry decodes.
  asio::awaitable<lookup> cached(std::string_view key);
  void count_hit(read_target target) noexcept;
  void count_miss(read_target target) noexcept;
  void count_decode_fault() noexcept;
  void count_stale_served() noexcept;

  /// Join the fetch running for `key`, or lead a new one: `fetch` runs detached on this
  /// coroutine's executor, its bytes are stored unless an invalidation since it started
  /// covered it (the group, or in rows mode one of the rows it read), and every waiter receives
  /// them. A caller cancelled while waiting completes with errc::cancelled; the fetch goes on for
  /// the others. `key` must stay valid until completion.
  asio::awaitable<result<blob>> fetch_shared(std::string_view key, fetch_rows_function fetch);
  asio::awaitable<result<blob>> fetch_shared(std::string_view key, fetch_function fetch);
  /// Start a background fetch for `key` unless one is running; true if started.
  bool start_refresh(std::string_view key, fetch_rows_function fetch);

  /// Whole-group invalidation (always used for unknown, overflow, lag, reconnect and stream
  /// errors): bump the generation, drop every entry under the group prefix, tell watchers.
  /// Completes after the entries are gone (or the removal failed: the group is then
  /// dirty and reads bypass the store until an invalidation succeeds).
  asio::awaitable<result<std::uint64_t>> invalidate(live_notification note);
  /// What a change to `ids` invalidates under options().invalidation: the group, or the
  /// rows and the cached pages they concern (docs/live-table.md). Then tells watchers.
  asio::awaitable<result<std::uint64_t>> invalidate_change(live_notification note,
                                                           std::vector<std::string> ids);

  /// Queue a write behind those already queued (waiting while the queue is full) and
  /// complete when the worker has applied it and invalidated what it changed (the group, or
  /// in rows mode its rows and their pages), or failed.
  /// errc::shut_down once shutdown began; errc::cancelled if the caller was cancelled
  /// (before it was queued, the write is dropped; after, it still runs in order).
  asio::awaitable<result<write_receipt>> submit(write_job job);

  std::shared_ptr<watch_channel> watch(const asio::any_io_executor& executor);
  /// Stop taking writes, drain or cancel the queued ones, stop the event consumer,
  /// close watchers. errc::shut_down if shutdown already began.
  asio::awaitable<result<shutdown_report>> shutdown(shutdown_mode mode);
  /// Start a cancelling shutdown without waiting for it (a table dropped unshut).
  void shutdown_detached();
  bool shutting_down() const noexcept;

  live_table_metrics metrics() const;

  struct impl;

 private:
  explicit live_core(std::shared_ptr<impl> state) : impl_(std::move(state)) {}
  std::shared_ptr<impl> impl_;
};

}  // namespace larder::detail
