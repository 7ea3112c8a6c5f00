// The knobs, counters and notifications of a live_table (the parts that do not depend
// on the row type).
#pragma once

#include <asio/experimental/concurrent_channel.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "larder/live_source.hpp"

namespace larder {

/// The default transient-error test: timeouts, an unreachable backend, EAGAIN and EBUSY.
bool default_is_transient(std::error_code ec) noexcept;

/// How much a change invalidates (docs/live-table.md, "Invalidation granularity").
enum class invalidation_mode : unsigned char {
  /// Every write and event clears the whole group `<cache_key>/`: right for any query.
  group,
  /// A change names its rows: an update clears the row's key and the cached pages that
  /// hold it; an insert or delete clears the row's key and the pages from its position
  /// onward (with `id_order`, else the group); lost events and unknown changes clear the
  /// group. Right only when an update never moves a row between pages or in or out of
  /// the query (ordered and filtered by fields that do not change), or with
  /// `updates_keep_position` false.
  rows,
};

struct live_table_options {
  /// The table's group in the store: entries live under `<cache_key>/`. Must be non-empty
  /// and must not contain '/', so that no table's group is inside another's.
  std::string cache_key;
  /// Rows per page. Fixed per table: page keys (`<cache_key>/page/<n>`) do not name the size.
  std::uint64_t page_size = 50;
  /// Writes waiting for the worker; a writer finding the queue full waits for room.
  std::size_t queue_capacity = 64;
  /// Attempts per write, the first included, when the source's error is transient.
  unsigned write_attempts = 4;
  std::chrono::milliseconds initial_backoff{10};
  std::chrono::milliseconds max_backoff{1000};
  /// Which source write errors are worth retrying. (A failing event stream is always
  /// re-read, after invalidating the group, with the same backoff.)
  std::function<bool(std::error_code)> is_transient = default_is_transient;
  /// Row sets older than this are not served as fresh; none: any age is fresh.
  std::optional<std::chrono::milliseconds> max_age{};
  /// With max_age: the first reader to find a too-old entry gets it at once while one
  /// background refresh runs; readers arriving during that refresh wait for it.
  bool stale_while_revalidate = false;
  /// Notifications a watcher may leave unread before it is told it lagged.
  std::size_t watch_capacity = 256;
  invalidation_mode invalidation = invalidation_mode::group;
  /// With `rows`: true when the query's order is by row id: `id_order(a, b)` says a comes
  /// before b. Lets an insert or delete clear only the pages at and after its position.
  std::function<bool(std::string_view, std::string_view)> id_order{};
  /// With `rows`: false if an update may move a row (the query sorts or filters on a field
  /// that writes change); updates then clear the group.
  bool updates_keep_position = true;
  /// With `rows`: pages whose row ids the table remembers; beyond it the oldest such page
  /// is removed from the store (a page the table cannot map to its rows is never kept).
  std::size_t max_tracked_pages = 8192;
  /// Own writes remembered for recognising their echoes in the change feed.
  std::size_t max_tracked_writes = 4096;
  /// With `rows` and a source modelling live_returning_source: a completed update, insert
  /// or erase of a named row stores the row the master returned under its row key, and
  /// an update also rewrites the cached pages that hold it, instead of leaving them to
  /// miss (docs/live-table.md, "Optimistic writes"). A rewrite that any other change
  /// overlapped is dropped, never stored. The table refuses the option otherwise.
  bool optimistic_writes = false;
};

/// What a table has done since it opened. Every fault is counted here.
struct live_table_metrics {
  std::uint64_t page_hits = 0, page_misses = 0;
  std::uint64_t row_hits = 0, row_misses = 0;
  std::uint64_t fetches = 0;            ///< reads from the source (one per shared miss)
  std::uint64_t shared_fetches = 0;     ///< misses that joined a fetch already running
  std::uint64_t fetch_faults = 0;       ///< source reads that failed
  std::uint64_t fills = 0;              ///< row sets written to the store
  std::uint64_t fills_dropped = 0;      ///< fetched before an invalidation: not stored
  std::uint64_t fill_faults = 0;        ///< the store refused or failed a fill
  std::uint64_t store_faults = 0;       ///< store reads that faulted (served from the source)
  std::uint64_t decode_faults = 0;      ///< entries the codec refused (served from the source)
  std::uint64_t bypassed_reads = 0;     ///< reads sent to the source while the group was dirty
  std::uint64_t invalidations = 0;      ///< invalidations that completed (group or rows)
  std::uint64_t row_invalidations = 0;  ///< of those, ones that cleared only rows and pages
  std::uint64_t pages_untracked = 0;    ///< pages removed to keep max_tracked_pages
  std::uint64_t echoes_skipped = 0;     ///< events tagged with this table's own writes
  std::uint64_t patches = 0;            ///< rows and pages rewritten by optimistic writes
  std::uint64_t patches_dropped = 0;    ///< rewrites another change overlapped: not stored
  std::uint64_t invalidation_faults = 0;
  std::uint64_t entries_invalidated = 0;
  std::uint64_t writes = 0, write_faults = 0, write_retries = 0, writes_cancelled = 0;
  /// Change events handled, counted once the event's invalidation completed (a reader
  /// that sees the count finds its entries gone); resyncs and event_faults likewise.
  std::uint64_t events = 0;
  std::uint64_t resyncs = 0;       ///< overflow / lagged / reconnected events
  std::uint64_t event_faults = 0;  ///< the event stream failed (then re-read)
  std::uint64_t stale_served = 0, refreshes = 0;
  std::uint64_t watch_lagged = 0;  ///< notifications replaced by `lagged` for slow watchers
  std::uint64_t queue_depth = 0;   ///< writes accepted and not yet finished (a gauge)
  std::uint64_t generation = 0;    ///< the group's current generation (a gauge)
};

/// What a watcher receives: the change and the group generation after it.
struct live_notification {
  change_kind kind = change_kind::changed;
  std::string id;
  std::uint64_t generation = 0;
};

/// A watcher's stream. Receive with `async_receive`. After the table shut down, the
/// watcher reads what was still buffered, then an error
/// (asio::experimental::error::channel_closed) that ends the stream.
using watch_channel =
    asio::experimental::concurrent_channel<void(std::error_code, live_notification)>;

enum class shutdown_mode : unsigned char {
  drain,   ///< run every write accepted before shutdown, then stop
  cancel,  ///< complete writes not yet started with errc::cancelled, then stop
};

struct shutdown_report {
  shutdown_mode mode = shutdown_mode::drain;
  std::uint64_t drained = 0;    ///< writes run after shutdown began
  std::uint64_t cancelled = 0;  ///< writes completed with errc::cancelled instead
};

}  // namespace larder
