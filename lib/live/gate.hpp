// An asynchronous readers-writer gate: fills share it, group invalidations take it alone.
#pragma once

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <deque>
#include <memory>
#include <mutex>

namespace larder::detail {

/// Why a gate and not a generation check alone: a fill that checks the generation and
/// then puts can be overtaken by a whole invalidation between the two steps, and its put
/// would land after the invalidation completed. Holding the gate shared from the check
/// to the end of the put, while an invalidation holds it exclusively from its generation
/// bump to the end of its prefix removal, makes the check and the put one step for it.
///
/// Waiting writers (invalidations) go before new readers, so a steady stream of fills
/// cannot starve an invalidation; a released writer admits every reader then waiting.
/// Waits are not cancellable: both sides hold the gate only for one store operation.
class rw_gate {
 public:
  asio::awaitable<void> lock_shared();
  void unlock_shared();
  asio::awaitable<void> lock();
  void unlock();

 private:
  struct waiter {
    virtual ~waiter() = default;
    virtual void resume() = 0;
  };
  template <class Handler>
  struct waiter_impl final : waiter {
    explicit waiter_impl(Handler h) : handler(std::move(h)) {}
    void resume() override {
      auto ex = asio::get_associated_executor(handler);
      asio::post(ex, std::move(handler));
    }
    Handler handler;
  };
  using waiter_ptr = std::unique_ptr<waiter>;

  bool try_shared_locked() noexcept;  // with mutex_ held
  bool try_exclusive_locked() noexcept;
  void enqueue(waiter_ptr w, bool exclusive);

  std::mutex mutex_;
  unsigned readers_ = 0;
  bool writer_ = false;
  std::deque<waiter_ptr> waiting_readers_, waiting_writers_;
};

/// Releases a gate at scope exit (a coroutine frame's scope included).
class gate_hold {
 public:
  gate_hold(rw_gate& gate, bool exclusive) noexcept : gate_(&gate), exclusive_(exclusive) {}
  gate_hold(const gate_hold&) = delete;
  gate_hold& operator=(const gate_hold&) = delete;
  ~gate_hold() {
    if (exclusive_)
      gate_->unlock();
    else
      gate_->unlock_shared();
  }

 private:
  rw_gate* gate_;
  bool exclusive_;
};

}  // namespace larder::detail
