// live_table: pages and rows of a master source, cached in any store, kept correct by
// writes through a queue and by the source's change events.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "larder/any_store.hpp"
#include "larder/blob.hpp"
#include "larder/detail/live_core.hpp"
#include "larder/live_source.hpp"
#include "larder/live_table_options.hpp"
#include "larder/result.hpp"
#include "larder/row_codec.hpp"
#include "larder/row_set.hpp"

namespace larder {

/// Row sets of `Source` cached in a store under `<cache_key>/page/<n>`,
/// `<cache_key>/after/<id>` (cursor pages) and `<cache_key>/id/<id>`, encoded by `Codec` (docs/live-table.md has the whole contract).
///
/// - Reads (`page`, `row`): a fresh entry in the store is returned; otherwise concurrent
///   misses on one key share one fetch from the source, whose rows are stored (unless
///   the group was invalidated after the fetch began) and returned to every waiter.
/// - Writes (`write` and its shorthands) go through one FIFO queue per table. Each is
///   applied to the source (transient errors retried with backoff), then what it changed
///   is invalidated (the group `<cache_key>/`, or in rows mode its row and pages), then
///   the caller completes: a caller always reads its own write. With optimistic_writes
///   and a live_returning_source, the row the master returned is stored in their place.
///   A failed write leaves the cache as it was and returns the source's error.
/// - Change events (when `Source` models live_event_source) invalidate the group, or with
///   invalidation_mode::rows only the rows and pages they concern; a broken, overflowing
///   or lagging stream invalidates the group. Events tagged with the table's own writes
///   (write_op::tag) are skipped: the write already invalidated what it changed.
/// - `watch()` streams the table's changes to a dashboard.
///
/// Completion and cancellation: every operation completes on the awaiting coroutine's
/// executor. Cancelling a reader waiting for a fetch completes it with errc::cancelled;
/// the shared fetch goes on for the others (while reading the store, the store's own
/// cancellation applies). Cancelling a writer while the queue is full drops its write;
/// once queued, the write still runs in order and the writer completes with
/// errc::cancelled. Lifetimes: the table must outlive the co_await of each of its
/// operations; views passed in (ids) must stay valid until the co_await completes.
/// An open table's worker and consumer keep its io_context busy until shutdown.
/// Destroying a table that was not shut down cancels its queued writes in the background
/// (destroy it before its io_context).
/// Every member is safe from several threads.
template <live_source Source, class Codec = default_row_codec_t<typename Source::row_type>>
requires row_codec<Codec, typename Source::row_type>
class live_table {
 public:
  using row_type = typename Source::row_type;
  using rows_type = row_set<row_type>;

  /// Build a table over `store` and `source`: checks the options (errc::invalid_argument),
  /// invalidates the group once (changes made while no table watched are unknown; a
  /// store error here fails the open), then starts the write worker and, if the source
  /// has events, the event consumer, both on `executor`. Arguments are copied before the
  /// first suspension, so temporaries may be passed.
  static asio::awaitable<result<std::unique_ptr<live_table>>> open(
      const asio::any_io_executor& executor, const any_store& store,
      const std::shared_ptr<Source>& source, const live_table_options& options,
      const Codec& codec = Codec{}) {
    if constexpr (!live_returning_source<Source>) {
      // Nothing to rewrite the cache with: the source cannot return the rows it wrote.
      if (options.optimistic_writes) return fail(make_error_code(errc::invalid_argument));
    }
    auto core = detail::live_core::create(executor, store, options);
    if (!core) return fail(core.error());
    std::unique_ptr<live_table> table(new live_table(std::move(*core), source, codec));
    return start(std::move(table));
  }

  ~live_table() {
    if (state_ && !state_->core.shutting_down()) state_->core.shutdown_detached();
  }
  live_table(const live_table&) = delete;
  live_table& operator=(const live_table&) = delete;

  /// Page `number` (options().page_size rows). Errors: the source's, or
  /// errc::corrupt_entry if the codec cannot read back what it wrote.
  asio::awaitable<result<rows_type>> page(std::uint64_t number) {
    auto key = state_->core.page_key(number);
    detail::fetch_rows_function fetch = [st = state_, number](std::vector<std::string>* ids) {
      return fetch_page_bytes(st, number, ids);
    };
    return read(state_, detail::read_target::page, std::move(key), std::move(fetch));
  }

  /// The cursor page after row `after` (keyset pagination): the options().page_size rows
  /// that follow it in the source's order, from the first row when `after` is empty;
  /// cached under `<cache_key>/after/<after>`. In rows mode an insert or delete clears
  /// only the cursor pages whose range it falls in (with `id_order`), where it would
  /// shift every offset page after it. Errors, completion and cancellation as page().
  asio::awaitable<result<rows_type>> page_after(std::string_view after) requires
      live_cursor_source<Source> {
    auto key = state_->core.cursor_key(after);
    detail::fetch_rows_function fetch =
        [st = state_, after = std::string(after)](std::vector<std::string>* ids) {
          return fetch_cursor_bytes(st, after, ids);
        };
    return read(state_, detail::read_target::page, std::move(key), std::move(fetch));
  }

  /// The row `id`, or an empty optional when the source has none (that answer is cached
  /// too, until the next invalidation).
  asio::awaitable<result<std::optional<row_type>>> row(std::string_view id) {
    auto key = state_->core.row_key(id);
    detail::fetch_rows_function fetch = [st = state_,
                                         id = std::string(id)](std::vector<std::string>*) {
      return fetch_row_bytes(st, id);
    };
    return read_one(state_, std::move(key), std::move(fetch));
  }

  /// Queue `op`; completes when it was applied and what it changed invalidated (the
  /// group, or in rows mode its row and the pages concerned), or failed. With
  /// optimistic_writes, the row the source returned (and, for an update, the cached pages
  /// holding it, rewritten) is stored before completion, unless another change overlapped
  /// the write. errc::shut_down after shutdown began. The receipt carries the id the
  /// source gave. Cancellation as for every operation (the class comment).
  asio::awaitable<result<write_receipt>> write(write_op<row_type>&& op) {
    auto shared = std::make_shared<const write_op<row_type>>(std::move(op));
    detail::write_job job;
    job.kind = notification_kind(shared->kind);
    job.id = shared->id;
    job.returns_row = live_returning_source<Source> && state_->core.options().optimistic_writes;
    job.apply = [st = state_, shared](std::uint64_t tag,
                                      std::optional<detail::write_patch>* patch) {
      return apply_copy(st, shared, tag, patch);
    };
    return state_->core.submit(std::move(job));
  }
  asio::awaitable<result<write_receipt>> write(const write_op<row_type>& op) {
    auto copy = op;
    return write(std::move(copy));
  }
  asio::awaitable<result<write_receipt>> insert(const row_type& row, std::string_view id = {}) {
    return write(write_op<row_type>::insert(row, std::string(id)));
  }
  asio::awaitable<result<write_receipt>> replace(std::string_view id, const row_type& row) {
    return write(write_op<row_type>::replace(std::string(id), row));
  }
  asio::awaitable<result<write_receipt>> patch(std::string_view id, const row_type& row) {
    return write(write_op<row_type>::patch(std::string(id), row));
  }
  asio::awaitable<result<write_receipt>> erase(std::string_view id) {
    return write(write_op<row_type>::erase(std::string(id)));
  }
  asio::awaitable<result<write_receipt>> erase_all() {
    return write(write_op<row_type>::erase_all());
  }

  /// Invalidate the group now (as a write or an event would); how many entries went.
  asio::awaitable<result<std::uint64_t>> invalidate() {
    return state_->core.invalidate(live_notification{change_kind::changed, {}, 0});
  }

  /// A new stream of this table's changes (writes through it and source events; a
  /// resync kind means "reload everything"). Unread notifications beyond
  /// options().watch_capacity are replaced by one `lagged`. Dropping the channel
  /// unsubscribes; shutdown closes it.
  std::shared_ptr<watch_channel> watch() { return state_->core.watch(state_->core.executor()); }
  std::shared_ptr<watch_channel> watch(const asio::any_io_executor& executor) {
    return state_->core.watch(executor);
  }

  /// Stop: new writes fail with errc::shut_down; `drain` runs the writes already
  /// accepted, `cancel` completes those not started with errc::cancelled (a write in
  /// progress always finishes, with its invalidation). Then the event consumer stops
  /// and watchers are closed. The report says which happened to how many.
  /// errc::shut_down if shutdown already began.
  asio::awaitable<result<shutdown_report>> shutdown(shutdown_mode mode = shutdown_mode::drain) {
    return state_->core.shutdown(mode);
  }

  live_table_metrics metrics() const { return state_->core.metrics(); }
  const live_table_options& options() const noexcept { return state_->core.options(); }
  const std::string& group_prefix() const noexcept { return state_->core.group_prefix(); }
  std::string page_key(std::uint64_t number) const { return state_->core.page_key(number); }
  std::string row_key(std::string_view id) const { return state_->core.row_key(id); }
  std::string cursor_key(std::string_view after) const { return state_->core.cursor_key(after); }
  Source& source() const noexcept { return *state_->source; }

 private:
  struct state {
    detail::live_core core;
    std::shared_ptr<Source> source;
    Codec codec;
  };
  using state_ptr = std::shared_ptr<state>;

  live_table(detail::live_core core, std::shared_ptr<Source> source, const Codec& codec)
      : state_(std::make_shared<state>(state{std::move(core), std::move(source), codec})) {}

  static asio::awaitable<result<std::unique_ptr<live_table>>> fail(std::error_code ec) {
    co_return ec;
  }

  static asio::awaitable<result<std::unique_ptr<live_table>>> start(
      std::unique_ptr<live_table> table) {
    detail::event_function events;
    if constexpr (live_event_source<Source>) {
      events = [source = table->state_->source] { return source->next_event(); };
    }
    const auto ec = co_await table->state_->core.start(std::move(events));
    if (ec) co_return ec;
    co_return std::move(table);
  }

  static change_kind notification_kind(write_kind kind) noexcept {
    switch (kind) {
      case write_kind::insert:
        return change_kind::inserted;
      case write_kind::replace:
      case write_kind::patch:
        return change_kind::updated;
      case write_kind::erase:
        return change_kind::deleted;
      case write_kind::erase_all:
        return change_kind::changed;
    }
    return change_kind::changed;
  }

  // Every attempt gets its own copy: a retried write must not see a moved-from op.
  static asio::awaitable<result<write_receipt>> apply_copy(
      state_ptr st, std::shared_ptr<const write_op<row_type>> op, std::uint64_t tag,
      std::optional<detail::write_patch>* patch) {
    write_op<row_type> attempt = *op;
    attempt.tag = tag;
    if constexpr (live_returning_source<Source>) {
      if (patch) {
        auto applied = co_await st->source->apply_returning(std::move(attempt));
        if (!applied) co_return applied.error();
        *patch = make_patch(st, *op, applied->receipt, std::move(applied->row));
        co_return std::move(applied->receipt);
      }
    }
    co_return co_await st->source->apply(std::move(attempt));
  }

  // The cache's rewrite for a write the source applied and returned `row` for; none
  // (the write only invalidates) when the answer does not fit the op or fails to encode.
  static std::optional<detail::write_patch> make_patch(const state_ptr& st,
                                                       const write_op<row_type>& op,
                                                       const write_receipt& receipt,
                                                       std::optional<row_type> row) {
    std::string id = op.id.empty() ? receipt.id : op.id;
    if (id.empty() || op.kind == write_kind::erase_all) return std::nullopt;
    if ((op.kind == write_kind::erase) == row.has_value()) return std::nullopt;
    rows_type entry;
    entry.fetched_at = std::chrono::system_clock::now();
    if (row) entry.rows.push_back({id, *row});
    auto bytes = st->codec.encode(entry);
    if (!bytes) return std::nullopt;
    detail::write_patch patch;
    patch.row_entry = std::move(*bytes);
    if (row) {
      patch.repage = [st, id = std::move(id), record = std::move(*row)](
                         const blob& page) -> result<std::pair<blob, std::vector<std::string>>> {
        auto set = st->codec.decode(page.view());
        if (!set) return set.error();
        bool found = false;
        std::vector<std::string> ids;
        ids.reserve(set->rows.size());
        for (auto& r : set->rows) {
          if (r.id == id) {
            r.record = record;
            found = true;
          }
          ids.push_back(r.id);
        }
        // The page changed since the index said it held the row: leave it to its next read.
        if (!found) return make_error_code(errc::invalid_argument);
        auto encoded = st->codec.encode(*set);  // keeps the page's fetch time
        if (!encoded) return encoded.error();
        return std::pair{std::move(*encoded), std::move(ids)};
      };
    }
    return patch;
  }

  static asio::awaitable<result<blob>> fetch_page_bytes(state_ptr st, std::uint64_t number,
                                                        std::vector<std::string>* ids) {
    const page_request request{number, st->core.options().page_size};
    auto rows = co_await st->source->fetch_page(request);
    if (!rows) co_return rows.error();
    co_return encode_rows(*st, std::move(*rows), ids);
  }

  static asio::awaitable<result<blob>> fetch_cursor_bytes(state_ptr st, std::string after,
                                                          std::vector<std::string>* ids) {
    cursor_request request{std::move(after), st->core.options().page_size};
    auto rows = co_await st->source->fetch_after(std::move(request));
    if (!rows) co_return rows.error();
    co_return encode_rows(*st, std::move(*rows), ids);
  }

  static result<blob> encode_rows(const state& st, row_list<row_type> rows,
                                  std::vector<std::string>* ids) {
    rows_type set;
    set.fetched_at = std::chrono::system_clock::now();
    set.rows.reserve(rows.size());
    for (auto& [id, record] : rows) {
      if (ids) ids->push_back(id);
      set.rows.push_back({std::move(id), std::move(record)});
    }
    return st.codec.encode(set);
  }

  static asio::awaitable<result<blob>> fetch_row_bytes(state_ptr st, std::string id) {
    auto found = co_await st->source->fetch_row(id);
    if (!found) co_return found.error();
    rows_type set;
    set.fetched_at = std::chrono::system_clock::now();
    if (*found) set.rows.push_back({id, std::move(**found)});
    co_return st->codec.encode(set);
  }

  static asio::awaitable<result<rows_type>> read(state_ptr st, detail::read_target target,
                                                 std::string key,
                                                 detail::fetch_rows_function fetch) {
    auto& core = st->core;
    const auto& opts = core.options();
    const auto found = co_await core.cached(key);
    if (found.is_hit()) {
      auto decoded = st->codec.decode(found.value().view());
      if (!decoded) {
        core.count_decode_fault();  // refetched below; the fill replaces the bad entry
      } else {
        const bool fresh =
            !opts.max_age || decoded->age(std::chrono::system_clock::now()) <= *opts.max_age;
        if (fresh) {
          core.count_hit(target);
          co_return decoded;
        }
        if (opts.stale_while_revalidate) {
          auto refresh = fetch;
          if (core.start_refresh(key, std::move(refresh))) {
            core.count_stale_served();
            co_return decoded;
          }
          // A refresh is already running: its starter had the stale rows; wait for it.
        }
      }
    }
    core.count_miss(target);
    auto bytes = co_await core.fetch_shared(key, std::move(fetch));
    if (!bytes) co_return bytes.error();
    auto decoded = st->codec.decode(bytes->view());
    if (!decoded) core.count_decode_fault();
    co_return decoded;
  }

  static asio::awaitable<result<std::optional<row_type>>> read_one(
      state_ptr st, std::string key, detail::fetch_rows_function fetch) {
    auto set =
        co_await read(std::move(st), detail::read_target::row, std::move(key), std::move(fetch));
    if (!set) co_return set.error();
    if (set->rows.empty()) co_return std::optional<row_type>{};
    co_return std::optional<row_type>(std::move(set->rows.front().record));
  }

  state_ptr state_;
};

}  // namespace larder
