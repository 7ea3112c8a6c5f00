#include "stores/redis/acks.hpp"

#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace larder {

asio::awaitable<bool> invalidation_bus::acknowledgements::wait(std::uint64_t id,
                                                               std::uint64_t receivers,
                                                               std::chrono::milliseconds limit) {
  return asio::co_spawn(strand_, wait_here(shared_from_this(), id, receivers, limit),
                        asio::use_awaitable);
}

asio::awaitable<bool> invalidation_bus::acknowledgements::wait_here(
    std::shared_ptr<acknowledgements> self, std::uint64_t id, std::uint64_t receivers,
    std::chrono::milliseconds limit) {
  {
    auto& e = self->entries_[id];
    e.needed = receivers;
    if (e.acked >= e.needed) {
      self->entries_.erase(id);
      co_return true;
    }
  }
  asio::steady_timer timer(self->strand_, limit);
  self->entries_[id].timer = &timer;
  (void)co_await timer.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
  const auto it = self->entries_.find(id);
  const bool complete = it != self->entries_.end() && it->second.acked >= it->second.needed;
  self->entries_.erase(id);
  co_return complete;
}

void invalidation_bus::acknowledgements::ack(std::uint64_t id) {
  auto& e = entries_[id];
  ++e.acked;
  if (e.timer != nullptr && e.acked >= e.needed) e.timer->cancel();
  // Acks for writes that stopped waiting (timed out) would stay forever: sweep the old.
  if (entries_.size() > 4096) {
    const auto old = std::chrono::steady_clock::now() - std::chrono::seconds(60);
    for (auto i = entries_.begin(); i != entries_.end();)
      i = (i->second.timer == nullptr && i->second.born < old) ? entries_.erase(i) : std::next(i);
  }
}

}  // namespace larder
