// The driver's threads: each runs its own io_context until the runtime is destroyed, so
// coroutines on one thread never migrate and need no locks among themselves.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <exception>
#include <future>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace larder::bench {

class runtime {
 public:
  explicit runtime(unsigned threads) {
    contexts_.reserve(threads);
    for (unsigned t = 0; t < threads; ++t) {
      // One thread per context: Asio then queues same-thread posts without taking its lock
      // (posts from other threads, as the io engine makes, still lock).
      contexts_.push_back(std::make_unique<asio::io_context>(1));
      guards_.push_back(asio::make_work_guard(*contexts_.back()));
    }
    for (unsigned t = 0; t < threads; ++t)
      threads_.emplace_back([ctx = contexts_[t].get()] { ctx->run(); });
  }
  /// Lets every context run out of work and joins the threads. Everything spawned must
  /// have completed (the stores closed) before this runs.
  ~runtime() {
    guards_.clear();
    for (auto& t : threads_)
      t.join();
  }
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  unsigned size() const noexcept { return static_cast<unsigned>(contexts_.size()); }
  asio::io_context& context(unsigned t) noexcept { return *contexts_[t]; }

  /// Runs `make()` (a callable returning asio::awaitable<T>) on thread `t`, blocks the
  /// calling thread until it completes, and returns its value or rethrows its exception.
  template <class F>
  auto run_on(unsigned t, F make) {
    using value_type = typename std::invoke_result_t<F&>::value_type;
    std::promise<value_type> done;
    auto future = done.get_future();
    if constexpr (std::is_void_v<value_type>) {
      asio::co_spawn(context(t), std::move(make), [&done](std::exception_ptr e) {
        if (e)
          done.set_exception(e);
        else
          done.set_value();
      });
    } else {
      asio::co_spawn(context(t), std::move(make), [&done](std::exception_ptr e, value_type v) {
        if (e)
          done.set_exception(e);
        else
          done.set_value(std::move(v));
      });
    }
    return future.get();
  }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
};

}  // namespace larder::bench
