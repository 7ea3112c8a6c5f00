// Test doubles for stacking: a tier that faults on demand, and a tier whose operations
// can be held at a gate so that races are reproduced step by step, not by timing.
#pragma once

#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <vector>

#include "larder/memory_store.hpp"

namespace larder::testing {

/// A memory store that, while `failing`, faults every operation with errc::io_error.
class faulty_store {
 public:
  std::atomic<bool> failing{false};
  std::atomic<int> puts{0};
  memory_store inner{memory_store_options{.max_entries = 1000, .max_bytes = 1 << 24}};

  asio::awaitable<lookup> get(key_view key) {
    if (failing) co_return lookup::fault(errc::io_error);
    co_return co_await inner.get(key);
  }
  asio::awaitable<std::error_code> put(key_view key, blob value) {
    ++puts;
    if (failing) co_return make_error_code(errc::io_error);
    co_return co_await inner.put(key, std::move(value));
  }
  asio::awaitable<result<bool>> erase(key_view key) {
    if (failing) co_return errc::io_error;
    co_return co_await inner.erase(key);
  }
  asio::awaitable<std::error_code> flush() {
    if (failing) co_return make_error_code(errc::io_error);
    co_return co_await inner.flush();
  }
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) {
    if (failing) co_return errc::io_error;
    co_return co_await inner.invalidate_prefix(prefix);
  }
  metrics_snapshot metrics() const { return inner.metrics(); }
};

/// A gate that operations wait at until it opens. Single-threaded tests only.
class gate {
 public:
  asio::awaitable<void> pass() {
    if (open_) co_return;
    ++waiting_;
    if (!timer_)
      timer_.emplace(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    co_await timer_->async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    --waiting_;
  }
  void open() {
    open_ = true;
    if (timer_) timer_->cancel();
  }
  int waiting() const { return waiting_; }

 private:
  std::optional<asio::steady_timer> timer_;
  bool open_ = false;
  int waiting_ = 0;
};

/// A memory store whose gets and puts can be held at gates.
class gated_store {
 public:
  memory_store inner{memory_store_options{.max_entries = 1000, .max_bytes = 1 << 24}};
  std::shared_ptr<gate> get_gate, put_gate;  // null: not gated
  std::atomic<int> puts{0};

  asio::awaitable<lookup> get(key_view key) {
    auto r = co_await inner.get(key);  // read first, then wait: the value is in hand
    if (get_gate) co_await get_gate->pass();
    co_return r;
  }
  asio::awaitable<std::error_code> put(key_view key, blob value) {
    ++puts;
    if (put_gate) co_await put_gate->pass();
    co_return co_await inner.put(key, std::move(value));
  }
  asio::awaitable<result<bool>> erase(key_view key) { return inner.erase(key); }
  asio::awaitable<std::error_code> flush() { return inner.flush(); }
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) {
    return inner.invalidate_prefix(prefix);
  }
  metrics_snapshot metrics() const { return inner.metrics(); }
};

/// A memory store whose puts can be held one by one and released in any order (each
/// held put waits at its own gate), fail with a given error, or throw. Gets, erases and
/// invalidations go straight through. Single-threaded tests only.
class held_store {
 public:
  memory_store inner{memory_store_options{.max_entries = 1000, .max_bytes = 1 << 24}};
  bool hold = false;          // hold every put that arrives from now on
  std::error_code put_error;  // puts fail with this (after their hold) without storing
  bool throw_on_put = false;  // puts throw std::runtime_error
  int puts = 0;

  asio::awaitable<lookup> get(key_view key) { return inner.get(key); }
  asio::awaitable<std::error_code> put(key_view key, blob value) {
    ++puts;
    if (throw_on_put) throw std::runtime_error("held_store: put threw on purpose");
    if (hold) {
      auto g = std::make_shared<gate>();
      held_.push_back(g);
      co_await g->pass();
    }
    if (put_error) co_return put_error;
    co_return co_await inner.put(key, std::move(value));
  }
  asio::awaitable<result<bool>> erase(key_view key) { return inner.erase(key); }
  asio::awaitable<std::error_code> flush() { return inner.flush(); }
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) {
    return inner.invalidate_prefix(prefix);
  }
  metrics_snapshot metrics() const { return inner.metrics(); }

  /// Puts that have been held so far (released or not), in order of arrival.
  std::size_t arrived() const { return held_.size(); }
  /// Let the `index`-th held put go on.
  void release(std::size_t index) { held_.at(index)->open(); }
  void release_all() {
    hold = false;
    for (auto& g : held_)
      g->open();
  }

 private:
  std::vector<std::shared_ptr<gate>> held_;
};

}  // namespace larder::testing
