// A type-erased completion handler waiting for a single-flight load (Asio 1.22 has no
// any_completion_handler). The handler runs on its own associated executor.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

#include "larder/blob.hpp"
#include "larder/result.hpp"

namespace larder::detail {

class flight_waiter {
 public:
  virtual ~flight_waiter() = default;
  /// Deliver the outcome; posts the handler to its executor, never runs it inline.
  virtual void complete(result<blob> outcome) = 0;
  /// Install `hook` in the handler's cancellation slot, if it has one. The hook may
  /// fire on another thread at any time, even after completion, so it must own all it
  /// touches (a weak reference to the flight and the waiter's id); it is never removed
  /// from here because a slot may not be cleared while another thread emits on it.
  virtual void on_cancel(std::function<void()> hook) = 0;
};

template <class Handler>
class flight_waiter_impl final : public flight_waiter {
 public:
  explicit flight_waiter_impl(Handler handler)
      : handler_(std::move(handler)), slot_(asio::get_associated_cancellation_slot(handler_)) {}

  void complete(result<blob> outcome) override {
    auto executor = asio::get_associated_executor(handler_);
    asio::post(executor, [handler = std::move(handler_), outcome = std::move(outcome)]() mutable {
      std::move(handler)(std::move(outcome));
    });
  }
  void on_cancel(std::function<void()> hook) override {
    if (slot_.is_connected()) {
      slot_.assign([hook = std::move(hook)](asio::cancellation_type type) {
        if (type != asio::cancellation_type::none) hook();
      });
    }
  }

 private:
  Handler handler_;
  asio::cancellation_slot slot_;
};

template <class Handler>
std::unique_ptr<flight_waiter> make_flight_waiter(Handler handler) {
  return std::make_unique<flight_waiter_impl<Handler>>(std::move(handler));
}

/// A loader erased to what the stores keep: copyable whatever the loader is.
using load_function = std::function<asio::awaitable<result<blob>>()>;

template <class Loader>
load_function erase_loader(Loader&& loader) {
  auto shared = std::make_shared<std::decay_t<Loader>>(std::forward<Loader>(loader));
  return [shared] { return (*shared)(); };
}

/// Suspend until the single flight for `key` completes. `join(key, executor, waiter,
/// load)` is the store's own step: hand `waiter` to the key's flight, starting one with
/// `load` on `executor` when there is none.
template <class Join>
asio::awaitable<result<blob>> await_flight(std::string_view key, load_function load, Join join) {
  auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(result<blob>)>(
      [&](auto handler) {
        join(key, executor, make_flight_waiter(std::move(handler)), std::move(load));
      },
      asio::use_awaitable);
}

}  // namespace larder::detail
