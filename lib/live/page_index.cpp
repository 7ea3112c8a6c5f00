#include "live/page_index.hpp"

#include <algorithm>

namespace larder::detail {

std::string update_tag(std::string_view id) {
  std::string t = "u";
  t.append(id);
  return t;
}
std::string shift_tag(std::string_view id) {
  std::string t = "p";
  t.append(id);
  return t;
}

page_index::page_index(std::size_t max_pages, std::uint64_t page_size, id_order order,
                       bool updates_keep_position)
    : max_pages_(max_pages == 0 ? 1 : max_pages),
      page_size_(page_size),
      order_(std::move(order)),
      updates_keep_position_(updates_keep_position) {}

void page_index::unlink(std::uint64_t page, const entry& e) {
  by_stamp_.erase(e.stamp);
  for (const auto& id : e.ids) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) continue;
    std::erase(it->second, page);
    if (it->second.empty()) by_id_.erase(it);
  }
}

std::optional<std::uint64_t> page_index::record(std::uint64_t page, std::vector<std::string> ids) {
  if (auto old = pages_.find(page); old != pages_.end()) {
    unlink(page, old->second);
    pages_.erase(old);
  }
  entry e{std::move(ids), next_stamp_++};
  for (const auto& id : e.ids)
    by_id_[id].push_back(page);
  by_stamp_[e.stamp] = page;
  pages_.emplace(page, std::move(e));
  if (pages_.size() <= max_pages_) return std::nullopt;
  const auto oldest = by_stamp_.begin()->second;
  forget(oldest);
  return oldest;
}

std::optional<std::string> page_index::record_cursor(std::string after,
                                                     std::vector<std::string> ids) {
  forget_cursor(after);
  entry e{std::move(ids), next_stamp_++};
  for (const auto& id : e.ids)
    cursor_by_id_[id].push_back(after);
  cursor_by_stamp_[e.stamp] = after;
  cursors_.emplace(std::move(after), std::move(e));
  if (cursors_.size() <= max_pages_) return std::nullopt;
  std::string oldest = cursor_by_stamp_.begin()->second;
  forget_cursor(oldest);
  return oldest;
}

void page_index::forget_cursor(const std::string& after) {
  auto it = cursors_.find(after);
  if (it == cursors_.end()) return;
  cursor_by_stamp_.erase(it->second.stamp);
  for (const auto& id : it->second.ids) {
    auto at = cursor_by_id_.find(id);
    if (at == cursor_by_id_.end()) continue;
    std::erase(at->second, after);
    if (at->second.empty()) cursor_by_id_.erase(at);
  }
  cursors_.erase(it);
}

std::vector<std::string> page_index::cursors_holding(std::string_view id) const {
  auto it = cursor_by_id_.find(std::string(id));
  return it == cursor_by_id_.end() ? std::vector<std::string>{} : it->second;
}

void page_index::forget(std::uint64_t page) {
  auto it = pages_.find(page);
  if (it == pages_.end()) return;
  unlink(page, it->second);
  pages_.erase(it);
}

void page_index::clear() {
  pages_.clear();
  by_stamp_.clear();
  by_id_.clear();
  cursors_.clear();
  cursor_by_stamp_.clear();
  cursor_by_id_.clear();
}

std::vector<std::uint64_t> page_index::pages_holding(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? std::vector<std::uint64_t>{} : it->second;
}

// A row appearing or going at `at` moves every row after it: a page whose last row is at
// or after `at` changes, and so does a short (last) page, which may gain or lose one.
bool page_index::shifted(const std::vector<std::string>& ids, std::string_view at) const {
  if (!order_) return true;
  if (ids.size() < page_size_ || ids.empty()) return true;
  return !order_(ids.back(), at);
}

// A cursor page holds every row in (after, last]: a row appearing or going at `at`
// changes it only inside that range, or anywhere after `after` for a short (last) page.
// Pages before or after the range keep their rows: that is what cursors are for.
bool page_index::cursor_shifted(std::string_view after, const std::vector<std::string>& ids,
                                std::string_view at) const {
  if (!order_) return true;
  if (!after.empty() && !order_(after, at)) return false;  // at or before the cursor row
  if (ids.size() < page_size_ || ids.empty()) return true;
  return !order_(ids.back(), at);
}

invalidation_plan page_index::take(change_kind kind, const std::vector<std::string>& ids) {
  invalidation_plan plan;
  const bool update = kind == change_kind::updated && updates_keep_position_;
  const bool shift = (kind == change_kind::inserted || kind == change_kind::deleted) && order_;
  if (ids.empty() || (!update && !shift)) {
    plan.group = true;
    return plan;
  }
  plan.row_ids = ids;
  for (const auto& id : ids) {
    if (update) {
      plan.tags.push_back(update_tag(id));
      for (const auto page : pages_holding(id))
        plan.pages.push_back(page);
      for (auto& after : cursors_holding(id))
        plan.cursors.push_back(std::move(after));
    } else {
      plan.tags.push_back(shift_tag(id));
      for (const auto& [page, e] : pages_)
        if (shifted(e.ids, id)) plan.pages.push_back(page);
      for (const auto& [after, e] : cursors_)
        if (cursor_shifted(after, e.ids, id)) plan.cursors.push_back(after);
    }
  }
  std::sort(plan.pages.begin(), plan.pages.end());
  plan.pages.erase(std::unique(plan.pages.begin(), plan.pages.end()), plan.pages.end());
  std::sort(plan.cursors.begin(), plan.cursors.end());
  plan.cursors.erase(std::unique(plan.cursors.begin(), plan.cursors.end()), plan.cursors.end());
  for (const auto page : plan.pages)
    forget(page);
  for (const auto& after : plan.cursors)
    forget_cursor(after);
  return plan;
}

bool page_index::page_stale(const std::vector<std::string>& ids,
                            const std::vector<std::string>& tags) const {
  for (const auto& tag : tags) {
    if (tag.empty()) return true;
    const std::string_view id = std::string_view(tag).substr(1);
    if (tag[0] == 'u') {
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) return true;
    } else if (tag[0] == 'p') {
      if (shifted(ids, id)) return true;
    } else {
      return true;  // not ours: assume the worst
    }
  }
  return false;
}

bool page_index::cursor_stale(std::string_view after, const std::vector<std::string>& ids,
                              const std::vector<std::string>& tags) const {
  for (const auto& tag : tags) {
    if (tag.empty()) return true;
    const std::string_view id = std::string_view(tag).substr(1);
    if (tag[0] == 'u') {
      if (std::find(ids.begin(), ids.end(), id) != ids.end()) return true;
    } else if (tag[0] == 'p') {
      if (cursor_shifted(after, ids, id)) return true;
    } else {
      return true;
    }
  }
  return false;
}

bool page_index::row_stale(std::string_view id, const std::vector<std::string>& tags) {
  for (const auto& tag : tags)
    if (tag.empty() || std::string_view(tag).substr(1) == id) return true;
  return false;
}

}  // namespace larder::detail
