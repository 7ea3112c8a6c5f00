// row_set: an ordered set of rows (id to record) and the time it was fetched.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace larder {

/// One row: the master's id for it and its record.
template <class Row>
struct row_entry {
  std::string id;
  Row record;
};

/// Rows in the order the master returned them, with the wall-clock time the fetch
/// completed. The time is wall-clock (not steady) because a row set may be read back by
/// another process or after a restart, from a persistent store.
template <class Row>
struct row_set {
  std::vector<row_entry<Row>> rows;
  std::chrono::system_clock::time_point fetched_at{};

  /// The record under `id`, or nullptr. Linear: a page is small.
  const Row* find(std::string_view id) const {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const auto& r) { return r.id == id; });
    return it == rows.end() ? nullptr : &it->record;
  }
  std::size_t size() const noexcept { return rows.size(); }
  bool empty() const noexcept { return rows.empty(); }

  /// How old the rows are at `now`; zero if the clock went backwards since the fetch.
  std::chrono::nanoseconds age(std::chrono::system_clock::time_point now) const noexcept {
    return now > fetched_at ? std::chrono::nanoseconds(now - fetched_at)
                            : std::chrono::nanoseconds::zero();
  }
};

}  // namespace larder
