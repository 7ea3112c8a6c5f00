// Runs coroutines on an io_context for a Catch2 test and rethrows their failures on the
// test thread. Catch2 v2 assertions are not thread-safe: with one thread the coroutines
// run on the test thread and may assert; with several, collect and assert after run().
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace larder::testing {

class io_runner {
 public:
  explicit io_runner(unsigned threads = 1) : threads_(threads == 0 ? 1 : threads) {}

  asio::io_context& context() noexcept { return io_; }
  unsigned threads() const noexcept { return threads_; }

  /// Start `make()` (a callable returning asio::awaitable<void>) when run() runs.
  /// The callable is kept alive by co_spawn, so capturing lambdas are safe.
  template <class F>
  void spawn(F&& make) {
    asio::co_spawn(io_, std::forward<F>(make), [this](std::exception_ptr e) {
      if (!e) return;
      std::lock_guard lock(mutex_);
      if (!failure_) failure_ = e;
    });
  }

  /// Run everything spawned on threads() threads (the test thread is one of them),
  /// wait for all of it, and rethrow the first failure.
  void run() {
    std::vector<std::thread> helpers;
    for (unsigned i = 1; i < threads_; ++i)
      helpers.emplace_back([this] { io_.run(); });
    io_.run();
    for (auto& t : helpers)
      t.join();
    io_.restart();
    if (auto e = std::exchange(failure_, nullptr)) std::rethrow_exception(e);
  }

  template <class F>
  void run(F&& make) {
    spawn(std::forward<F>(make));
    run();
  }

 private:
  asio::io_context io_;
  unsigned threads_;
  std::mutex mutex_;
  std::exception_ptr failure_;
};

}  // namespace larder::testing
