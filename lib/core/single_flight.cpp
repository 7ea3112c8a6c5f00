#include "core/flight.hpp"

namespace larder::detail {

bool flight::add_waiter(const std::shared_ptr<flight>& self,
                        std::unique_ptr<flight_waiter> waiter) {
  std::lock_guard lock(mutex);
  if (finished) return false;
  const auto id = next_waiter_id++;
  // The hook owns only a weak reference and an id: it may fire after the flight ended.
  waiter->on_cancel([weak = std::weak_ptr<flight>(self), id] {
    auto f = weak.lock();
    if (!f) return;
    std::unique_ptr<flight_waiter> cancelled;
    {
      std::lock_guard lock(f->mutex);
      for (auto it = f->waiters.begin(); it != f->waiters.end(); ++it) {
        if (it->first == id) {
          cancelled = std::move(it->second);
          f->waiters.erase(it);
          break;
        }
      }
    }
    if (cancelled) cancelled->complete(errc::cancelled);
  });
  waiters.emplace_back(id, std::move(waiter));
  return true;
}

void flight::finish(const result<blob>& outcome) {
  std::vector<std::pair<std::uint64_t, std::unique_ptr<flight_waiter>>> taken;
  {
    std::lock_guard lock(mutex);
    finished = true;
    taken.swap(waiters);
  }
  for (auto& [id, waiter] : taken)
    waiter->complete(outcome);
}

namespace {
// This Abseil build has its own string_view type; its heterogeneous lookup takes that.
absl::string_view as_absl(std::string_view s) {
  return {s.data(), s.size()};
}
}  // namespace

std::shared_ptr<flight> flight_table::find(std::string_view key) const {
  auto it = flights_.find(as_absl(key));
  return it == flights_.end() ? nullptr : it->second;
}

std::shared_ptr<flight> flight_table::start(std::string_view key) {
  auto f = std::make_shared<flight>();
  flights_.insert_or_assign(std::string(key), f);
  return f;
}

void flight_table::remove(std::string_view key, const flight* f) {
  auto it = flights_.find(as_absl(key));
  if (it != flights_.end() && it->second.get() == f) flights_.erase(it);
}

void flight_table::mark_stale(std::string_view prefix, bool exact) {
  if (flights_.empty()) return;
  if (exact) {
    if (auto it = flights_.find(as_absl(prefix)); it != flights_.end()) it->second->stale = true;
    return;
  }
  // Flights are few (one per key being loaded right now), so a walk is cheap.
  for (auto& [key, f] : flights_)
    if (std::string_view(key).starts_with(prefix)) f->stale = true;
}

}  // namespace larder::detail
