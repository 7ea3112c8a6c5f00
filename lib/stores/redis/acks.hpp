// The writer's side of confirmed invalidations: a write waits until every subscriber
// that received its message has acknowledged applying it.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>

#include "larder/invalidation_bus.hpp"

namespace larder {

// Lives on the bus connection's strand: acks arrive there, and waits run there (the
// waiting coroutine is hopped over with co_spawn and resumes on its own executor).
class invalidation_bus::acknowledgements
    : public std::enable_shared_from_this<invalidation_bus::acknowledgements> {
 public:
  explicit acknowledgements(asio::strand<asio::any_io_executor> strand)
      : strand_(std::move(strand)) {}

  // A fresh id for one write's message (never 0, which means "not confirmed").
  std::uint64_t next_id() noexcept { return next_.fetch_add(1, std::memory_order_relaxed); }

  // Completes with true once `receivers` acks for `id` arrived (some may have come
  // already), false at `limit`. Any thread; resumes on the caller's executor.
  asio::awaitable<bool> wait(std::uint64_t id, std::uint64_t receivers,
                             std::chrono::milliseconds limit);

  // One ack for `id`. On the strand only.
  void ack(std::uint64_t id);

  const asio::strand<asio::any_io_executor>& strand() const noexcept { return strand_; }

 private:
  struct entry {
    std::uint64_t acked = 0;
    std::uint64_t needed = ~std::uint64_t{0};
    asio::steady_timer* timer = nullptr;
    std::chrono::steady_clock::time_point born = std::chrono::steady_clock::now();
  };
  static asio::awaitable<bool> wait_here(std::shared_ptr<acknowledgements> self, std::uint64_t id,
                                         std::uint64_t receivers, std::chrono::milliseconds limit);

  asio::strand<asio::any_io_executor> strand_;
  std::atomic<std::uint64_t> next_{1};
  std::unordered_map<std::uint64_t, entry> entries_;  // strand only
};

}  // namespace larder
