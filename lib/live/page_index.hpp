// page_index: which cached page holds which row ids, and what a change invalidates. No
// I/O: the live core feeds it fills and changes and acts on the plans it returns.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "larder/live_source.hpp"

namespace larder::detail {

/// True when row id `a` comes before `b` in the table's order (set only when the table
/// is ordered by id).
using id_order = std::function<bool(std::string_view a, std::string_view b)>;

/// Fill-guard tags (core/fill_guard.hpp) for a change, judged by what a fill read:
/// 'u' + id: the row changed in place; 'p' + id: a row appeared or went at id's position.
std::string update_tag(std::string_view id);
std::string shift_tag(std::string_view id);

/// What one change invalidates: the whole group, or these rows and pages.
struct invalidation_plan {
  bool group = false;
  std::vector<std::string> row_ids;
  std::vector<std::uint64_t> pages;  ///< cached pages, now forgotten by the index
  std::vector<std::string> cursors;  ///< cached cursor pages (their `after`), forgotten too
  std::vector<std::string> tags;     ///< for the fill guard: fills in flight judge them
};

class page_index {
 public:
  /// `max_pages`: pages remembered at most (the oldest recorded is dropped beyond it and
  /// must then be removed from the store by the caller). `order` may be empty: inserts
  /// and deletes then invalidate the group. `updates_keep_position` false: an update may
  /// move a row between pages or in or out of the query, so it invalidates the group.
  page_index(std::size_t max_pages, std::uint64_t page_size, id_order order,
             bool updates_keep_position);

  /// Page `page` was filled with `ids` (in order), replacing what it held. Returns the
  /// page dropped to keep the bound, if any.
  std::optional<std::uint64_t> record(std::uint64_t page, std::vector<std::string> ids);
  /// Cursor page `after` (the rows following that row) was filled with `ids`. Cursor
  /// pages are bounded by `max_pages` on their own; returns the one dropped, if any.
  std::optional<std::string> record_cursor(std::string after, std::vector<std::string> ids);
  /// What `kind` on `ids` invalidates; the pages named are forgotten. Resync kinds,
  /// `changed`, an empty id list and positions that cannot be known give the group.
  invalidation_plan take(change_kind kind, const std::vector<std::string>& ids);
  void forget(std::uint64_t page);
  void clear();

  /// A fill of a page that read `ids`: stale if a tag seen during it concerns them.
  bool page_stale(const std::vector<std::string>& ids, const std::vector<std::string>& tags) const;
  /// A fill of cursor page `after` that read `ids`: stale if a tag seen concerns them.
  bool cursor_stale(std::string_view after, const std::vector<std::string>& ids,
                    const std::vector<std::string>& tags) const;
  /// A fill of the single row `id`: stale if a tag seen names it.
  static bool row_stale(std::string_view id, const std::vector<std::string>& tags);

  std::size_t size() const noexcept { return pages_.size(); }
  std::size_t cursor_pages() const noexcept { return cursors_.size(); }
  std::vector<std::uint64_t> pages_holding(std::string_view id) const;
  std::vector<std::string> cursors_holding(std::string_view id) const;

 private:
  struct entry {
    std::vector<std::string> ids;
    std::uint64_t stamp = 0;
  };
  bool shifted(const std::vector<std::string>& ids, std::string_view at) const;
  bool cursor_shifted(std::string_view after, const std::vector<std::string>& ids,
                      std::string_view at) const;
  void unlink(std::uint64_t page, const entry& e);
  void forget_cursor(const std::string& after);

  std::size_t max_pages_;
  std::uint64_t page_size_;
  id_order order_;
  bool updates_keep_position_;
  std::uint64_t next_stamp_ = 0;
  std::map<std::uint64_t, entry> pages_;
  std::map<std::uint64_t, std::uint64_t> by_stamp_;  // stamp -> page: the oldest goes first
  absl::flat_hash_map<std::string, std::vector<std::uint64_t>> by_id_;
  // Cursor pages, by their `after`, with the same stamps and a reverse map of their own.
  absl::flat_hash_map<std::string, entry> cursors_;
  std::map<std::uint64_t, std::string> cursor_by_stamp_;
  absl::flat_hash_map<std::string, std::vector<std::string>> cursor_by_id_;
};

}  // namespace larder::detail
