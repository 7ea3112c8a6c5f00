#include "core/single_flight.hpp"

namespace larder::detail {

bool flight::add_waiter(const std::shared_ptr<flight>& self,
                        std::unique_ptr<flight_waiter>& waiter) {
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
    if (finished) return;
    finished = true;
    taken.swap(waiters);
  }
  for (auto& [id, waiter] : taken)
    waiter->complete(outcome);
}

std::size_t flight::waiting() {
  std::lock_guard lock(mutex);
  return waiters.size();
}

namespace {
// This Abseil build has its own string_view type; its heterogeneous lookup takes that.
absl::string_view as_absl(std::string_view s) {
  return {s.data(), s.size()};
}
}  // namespace

flight_table::joined flight_table::join(std::string_view key,
                                        std::unique_ptr<flight_waiter> waiter) {
  if (auto it = flights_.find(as_absl(key)); it != flights_.end()) {
    // Flights leave the table (under the owner's lock, held by our caller) before they
    // finish, so a flight found here has not finished and takes the waiter.
    it->second->add_waiter(it->second, waiter);
    return {it->second, false};
  }
  auto f = std::make_shared<flight>();
  f->add_waiter(f, waiter);
  flights_.emplace(std::string(key), f);
  return {std::move(f), true};
}

std::shared_ptr<flight> flight_table::start_if_idle(std::string_view key) {
  if (flights_.contains(as_absl(key))) return nullptr;
  auto f = std::make_shared<flight>();
  flights_.emplace(std::string(key), f);
  return f;
}

bool flight_table::leave(std::string_view key, const flight* f) {
  auto it = flights_.find(as_absl(key));
  if (it == flights_.end() || it->second.get() != f) return false;
  flights_.erase(it);
  return true;
}

std::size_t flight_table::detach(std::string_view key_or_prefix, bool exact) {
  if (flights_.empty()) return 0;
  if (exact) return flights_.erase(as_absl(key_or_prefix));
  // Flights are few (one per key being loaded right now), so a walk is cheap.
  return absl::erase_if(flights_, [&](const auto& entry) {
    return std::string_view(entry.first).starts_with(key_or_prefix);
  });
}

std::shared_ptr<flight> flight_table::find(std::string_view key) const {
  auto it = flights_.find(as_absl(key));
  return it == flights_.end() ? nullptr : it->second;
}

flight_lead::~flight_lead() {
  if (done_ || !flight_) return;
  try {
    if (leave_) leave_(flight_.get());
  } catch (...) {
    // Leaving takes a lock and erases from a table: nothing there throws in practice,
    // and the waiters below must be completed whatever happened.
  }
  done_ = true;
  flight_->finish(outcome_);
}

void flight_lead::finish(const result<blob>& outcome) {
  if (done_) return;
  if (leave_) leave_(flight_.get());
  done_ = true;
  flight_->finish(outcome);
}

asio::awaitable<result<blob>> run_loader(const load_function& load) {
  try {
    co_return co_await load();
  } catch (...) {
    co_return errc::loader_failed;
  }
}

}  // namespace larder::detail
