// Single-flight loads: one loader run per key, however many callers miss at once.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "larder/detail/flight_waiter.hpp"

namespace larder::detail {

/// One load in progress. Waiters join under the shard lock; completion and
/// cancellation race on `mutex`, and whichever takes a waiter out completes it.
struct flight {
  std::mutex mutex;
  std::vector<std::pair<std::uint64_t, std::unique_ptr<flight_waiter>>> waiters;
  std::uint64_t next_waiter_id = 0;
  bool finished = false;
  /// Set when the key was erased or invalidated during the load: the result reaches
  /// the waiters but is not installed, because it may predate the removal.
  bool stale = false;

  /// Add a waiter and hook its cancellation; false if the flight already finished.
  bool add_waiter(const std::shared_ptr<flight>& self, std::unique_ptr<flight_waiter> waiter);
  /// Complete every waiter still waiting.
  void finish(const result<blob>& outcome);
};

/// In-progress loads keyed by the full key. Guarded by its owner (a shard lock, a mutex).
class flight_table {
 public:
  std::shared_ptr<flight> find(std::string_view key) const;
  std::shared_ptr<flight> start(std::string_view key);
  /// Forget the flight for `key` if it is `f` (a newer flight may have replaced it).
  void remove(std::string_view key, const flight* f);
  /// Mark flights whose key starts with `prefix` (or equals it, when exact) stale.
  void mark_stale(std::string_view prefix, bool exact);

 private:
  absl::flat_hash_map<std::string, std::shared_ptr<flight>> flights_;
};

}  // namespace larder::detail
