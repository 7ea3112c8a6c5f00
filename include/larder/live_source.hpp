// The master a live_table reads from and writes to, as C++20 concepts, with the
// vocabulary they share: page requests, write operations and change events.
#pragma once

#include <asio/awaitable.hpp>
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "larder/result.hpp"

namespace larder {

/// Which page of the master's ordering to read: rows [number * size, (number + 1) * size).
struct page_request {
  std::uint64_t number = 0;
  std::uint64_t size = 0;
};

/// A keyset ("cursor") page: the `size` rows that follow the row `after` in the master's
/// order, from the first row when `after` is empty. Unlike an offset page it does not
/// shift when a row is inserted or deleted before it.
struct cursor_request {
  std::string after;
  std::uint64_t size = 0;
};

/// The rows of a page as the master returns them, in its order.
template <class Row>
using row_list = std::vector<std::pair<std::string, Row>>;

enum class write_kind : unsigned char {
  insert,     ///< add a row; the master may assign the id (an empty id asks it to)
  replace,    ///< replace the row `id` with `row` entirely
  patch,      ///< merge `row` into the row `id` (what merging means is the master's)
  erase,      ///< delete the row `id`
  erase_all,  ///< delete every row of the table
};

/// One write to the master. Build them with the named constructors.
template <class Row>
struct write_op {
  write_kind kind = write_kind::insert;
  std::string id;
  Row row{};
  /// Set by the table before it applies the write (zero: none). A source whose change
  /// feed also reports this write tags those events with it (change_event::tag), so that
  /// the table does not invalidate a second time what it already invalidated for it.
  std::uint64_t tag = 0;

  static write_op insert(Row row, std::string id = {}) {
    return {write_kind::insert, std::move(id), std::move(row)};
  }
  static write_op replace(std::string id, Row row) {
    return {write_kind::replace, std::move(id), std::move(row)};
  }
  static write_op patch(std::string id, Row row) {
    return {write_kind::patch, std::move(id), std::move(row)};
  }
  static write_op erase(std::string id) { return {write_kind::erase, std::move(id), Row{}}; }
  static write_op erase_all() { return {write_kind::erase_all, {}, Row{}}; }
};

/// What the master did: the row's id (the assigned one for an insert) and how many rows
/// the write touched.
struct write_receipt {
  std::string id;
  std::uint64_t affected = 0;
};

/// What a returning source did (live_returning_source): the receipt, and the row `id`
/// as the master holds it once the write committed (empty when the write left no row
/// there, as an erase does). It must be the committed row itself, not the op's input:
/// a patch returns the merged row, defaults and triggers applied.
template <class Row>
struct applied_write {
  write_receipt receipt;
  std::optional<Row> row;
};

/// What a change event or a table notification says happened.
enum class change_kind : unsigned char {
  changed,      ///< something in the table changed; no single row named
  inserted,     ///< the row `id` was added
  updated,      ///< the row `id` changed
  deleted,      ///< the row `id` went
  overflow,     ///< the stream dropped events: anything may have changed
  lagged,       ///< the consumer fell behind and events were skipped
  reconnected,  ///< the stream was re-established; events in between are unknown
};

/// True for the kinds that mean "events were lost, resynchronise everything".
constexpr bool is_resync(change_kind kind) noexcept {
  return kind == change_kind::overflow || kind == change_kind::lagged ||
         kind == change_kind::reconnected;
}

const char* to_string(change_kind kind) noexcept;
const char* to_string(write_kind kind) noexcept;

struct change_event {
  change_kind kind = change_kind::changed;
  std::string id;  ///< the row, for inserted, updated and deleted
  /// Further rows the same change touched the same way (a statement updating several).
  std::vector<std::string> more_ids{};
  /// The write_op::tag of the table's write that made this change, or zero. Only a write
  /// the source applied for that op may carry it: a table skips events with its own tags.
  std::uint64_t tag = 0;
};

/// A master a live_table can read and write. `row_type` is one record. All three are
/// coroutines that may run concurrently from several threads (reads with reads and with
/// the one write in progress); errors are values. A source that throws is treated as
/// having failed with errc::loader_failed.
///
/// - `fetch_page(page)`: the rows of that page, in the master's order.
/// - `fetch_row(id)`: the row, or an empty optional when there is none. The view stays
///   valid until the awaitable completes.
/// - `apply(op)`: perform one write; a failure leaves the master unchanged. Errors that
///   the table's retry policy deems transient (live_table_options::is_transient) are
///   retried with backoff.
template <class S>
concept live_source = requires(S& s, page_request page, std::string_view id,
                               write_op<typename S::row_type> op) {
  typename S::row_type;
  { s.fetch_page(page) } -> std::same_as<asio::awaitable<result<row_list<typename S::row_type>>>>;
  { s.fetch_row(id) } -> std::same_as<asio::awaitable<result<std::optional<typename S::row_type>>>>;
  { s.apply(std::move(op)) } -> std::same_as<asio::awaitable<result<write_receipt>>>;
};

/// A source that also serves cursor pages: `fetch_after(request)` returns the rows after
/// the row `request.after` in the same order as fetch_page (keyset pagination: `WHERE id >
/// ? ORDER BY id LIMIT ?`, or on (sort key, id) with the cursor row's sort key). It must
/// answer for an `after` whose row has since been deleted, as a keyset query does.
template <class S>
concept live_cursor_source = live_source<S> && requires(S& s, cursor_request request) {
  {
    s.fetch_after(std::move(request))
    } -> std::same_as<asio::awaitable<result<row_list<typename S::row_type>>>>;
};

/// A source whose writes can also return the row they left (`RETURNING *`, or a read in
/// the write's transaction). `apply_returning(op)` does what `apply(op)` does and, in the
/// same atomic step, reports the committed row. With live_table_options::optimistic_writes
/// the table stores that row (and the cached pages that hold it) instead of leaving its
/// next read to miss.
template <class S>
concept live_returning_source = live_source<S> &&
    requires(S& s, write_op<typename S::row_type> op) {
  {
    s.apply_returning(std::move(op))
    } -> std::same_as<asio::awaitable<result<applied_write<typename S::row_type>>>>;
};

/// A source that also pushes change events. `next_event()` completes with the next event
/// (overflow, lagged and reconnected are events too: the source reports that it lost
/// some), or with an error when the stream is broken. It must honour terminal
/// cancellation through its cancellation slot (completing with any error), because
/// that is how the table stops waiting for it at shutdown. One call at a time.
template <class S>
concept live_event_source = live_source<S> && requires(S& s) {
  { s.next_event() } -> std::same_as<asio::awaitable<result<change_event>>>;
};

}  // namespace larder
