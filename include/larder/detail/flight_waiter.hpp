// A type-erased completion handler waiting for a single-flight load (Asio 1.22 has no
// any_completion_handler). The handler runs on its own associated executor.
#pragma once

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/post.hpp>
#include <functional>
#include <memory>
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

}  // namespace larder::detail
