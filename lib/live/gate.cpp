#include "live/gate.hpp"

#include <utility>
#include <vector>

namespace larder::detail {

bool rw_gate::try_shared_locked() noexcept {
  if (writer_ || !waiting_writers_.empty()) return false;
  ++readers_;
  return true;
}

bool rw_gate::try_exclusive_locked() noexcept {
  if (writer_ || readers_ != 0) return false;
  writer_ = true;
  return true;
}

asio::awaitable<void> rw_gate::lock_shared() {
  {
    std::lock_guard lock(mutex_);
    if (try_shared_locked()) co_return;
  }
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [this](auto handler) {
        enqueue(std::make_unique<waiter_impl<decltype(handler)>>(std::move(handler)), false);
      },
      asio::use_awaitable);
}

asio::awaitable<void> rw_gate::lock() {
  {
    std::lock_guard lock(mutex_);
    if (try_exclusive_locked()) co_return;
  }
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [this](auto handler) {
        enqueue(std::make_unique<waiter_impl<decltype(handler)>>(std::move(handler)), true);
      },
      asio::use_awaitable);
}

void rw_gate::enqueue(waiter_ptr w, bool exclusive) {
  std::unique_lock lock(mutex_);
  // The gate may have been released between the fast path and here.
  if (exclusive ? try_exclusive_locked() : try_shared_locked()) {
    lock.unlock();
    w->resume();
    return;
  }
  (exclusive ? waiting_writers_ : waiting_readers_).push_back(std::move(w));
}

void rw_gate::unlock_shared() {
  std::unique_lock lock(mutex_);
  --readers_;
  waiter_ptr next;
  // Readers queued here only behind a waiting writer; that writer goes first.
  if (readers_ == 0 && !waiting_writers_.empty()) {
    writer_ = true;
    next = std::move(waiting_writers_.front());
    waiting_writers_.pop_front();
  }
  lock.unlock();
  if (next) next->resume();
}

void rw_gate::unlock() {
  std::unique_lock lock(mutex_);
  writer_ = false;
  std::vector<waiter_ptr> granted;
  // Readers that queued behind this writer go next, all at once, then the next writer:
  // alternating keeps either side from starving the other.
  if (!waiting_readers_.empty()) {
    readers_ += static_cast<unsigned>(waiting_readers_.size());
    for (auto& w : waiting_readers_)
      granted.push_back(std::move(w));
    waiting_readers_.clear();
  } else if (!waiting_writers_.empty()) {
    writer_ = true;
    granted.push_back(std::move(waiting_writers_.front()));
    waiting_writers_.pop_front();
  }
  lock.unlock();
  for (auto& w : granted)
    w->resume();
}

}  // namespace larder::detail
