// Single-flight loads: one loader run per key, however many callers miss at once, and a
// leader that always finishes its flight.
//
// The pieces, and who owns them:
// - `flight`: one load in progress and its waiters. Shared by the table, the leader and
//   the waiters' cancellation hooks (which hold it weakly).
// - `flight_table`: the flights current per key. Not thread-safe: its owner guards it
//   (the memory store with a shard lock, so that a join can check the shard for a hit
//   under the same hold; the layered store and the live core with a mutex).
// - `flight_lead`: the leader's scope guard. Whatever way the leader's coroutine ends
//   (returns, throws after the loader returned, or its frame is destroyed with its
//   executor), the flight leaves the table and every waiter is completed exactly once.
//
// Completion and cancellation: each waiter's handler is posted to its own executor,
// exactly once, with the flight's outcome or, if its cancellation slot fired first (any
// cancellation type), errc::cancelled; a cancelled waiter never cancels the leader,
// which runs detached until the load ends. Lifetimes: the table and the leader keep a
// flight alive; cancellation hooks hold it weakly and may fire after it ended.
//
// "A fill must never land after an invalidation" has two halves here. A removal
// detaches the flights of the keys it covers (`flight_table::detach`): a get_or_load that
// starts after the removal began never joins a load that began before it, and the
// detached flight's leader learns from `flight_table::leave` that its result is not
// current and must not be installed. Stores whose install is one step under the same
// lock as their removals (the memory store) need nothing more; stores whose installs
// and removals suspend use fill_guard (core/fill_guard.hpp) for the other half.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "larder/detail/flight_waiter.hpp"

namespace larder::detail {

/// One load in progress. Waiters join under the owner's lock; completion and
/// cancellation race on `mutex`, and whichever takes a waiter out completes it.
struct flight {
  std::mutex mutex;
  std::vector<std::pair<std::uint64_t, std::unique_ptr<flight_waiter>>> waiters;
  std::uint64_t next_waiter_id = 0;
  bool finished = false;

  /// Add a waiter and hook its cancellation; false (the waiter untouched) if the flight
  /// already finished.
  bool add_waiter(const std::shared_ptr<flight>& self, std::unique_ptr<flight_waiter>& waiter);
  /// Complete every waiter still waiting; later calls do nothing.
  void finish(const result<blob>& outcome);
  std::size_t waiting();
};

/// The flights current per key. Guarded by its owner; no member suspends or blocks.
class flight_table {
 public:
  struct joined {
    std::shared_ptr<flight> f;
    bool leader = false;  ///< a new flight: the caller must lead it (see flight_lead)
  };
  /// Hand `waiter` to the key's current flight, or start one with it.
  joined join(std::string_view key, std::unique_ptr<flight_waiter> waiter);
  /// Start a flight with no waiters unless one is current (a background refresh); null
  /// when one is.
  std::shared_ptr<flight> start_if_idle(std::string_view key);
  /// The leader of `f` leaves the table. True if `f` was still the key's current flight,
  /// false if a removal detached it meanwhile (its result must then not be installed).
  /// Idempotent: later calls return false.
  bool leave(std::string_view key, const flight* f);
  /// A removal of `key` (exact) or of every key starting with it: its flights stop being
  /// current. They run on and reach their waiters; new callers start fresh flights.
  /// Returns how many flights were detached.
  std::size_t detach(std::string_view key_or_prefix, bool exact);
  std::shared_ptr<flight> find(std::string_view key) const;
  std::size_t size() const noexcept { return flights_.size(); }

 private:
  absl::flat_hash_map<std::string, std::shared_ptr<flight>> flights_;
};

/// The leader's scope guard: a local of the leader's coroutine, made before its first
/// suspension. `finish` leaves the table (through `leave`, which takes the owner's lock)
/// and completes every waiter. If the coroutine ends without calling it (an exception
/// after the loader, the frame destroyed while suspended), the destructor does the same
/// with the outcome recorded by `set_outcome`, else with errc::cancelled; it never
/// throws. Single-owner, not thread-safe itself.
class flight_lead {
 public:
  /// `leave(f)` must remove `f` from its table under the owner's lock; it may be called
  /// after the owner's own install already removed it (flight_table::leave is idempotent).
  using leave_function = std::function<void(const flight*)>;

  flight_lead(std::shared_ptr<flight> f, leave_function leave) noexcept
      : flight_(std::move(f)), leave_(std::move(leave)) {}
  flight_lead(const flight_lead&) = delete;
  flight_lead& operator=(const flight_lead&) = delete;
  ~flight_lead();

  /// What the waiters get if the leader ends without finish() (the loaded value, once
  /// the loader returned: an install that throws does not make a good load bad).
  void set_outcome(result<blob> outcome) { outcome_ = std::move(outcome); }
  /// Leave the table, then complete the waiters with `outcome`.
  void finish(const result<blob>& outcome);
  bool finished() const noexcept { return done_; }
  const flight* get() const noexcept { return flight_.get(); }

 private:
  std::shared_ptr<flight> flight_;
  leave_function leave_;
  result<blob> outcome_ = errc::cancelled;
  bool done_ = false;
};

/// Run a loader, turning a throw into errc::loader_failed (a throwing source is a
/// failed one).
asio::awaitable<result<blob>> run_loader(const load_function& load);

}  // namespace larder::detail
