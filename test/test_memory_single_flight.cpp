#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "larder/memory_store.hpp"
#include "support/io_runner.hpp"

using namespace larder;
using namespace std::chrono_literals;

TEST_CASE("get_or_load: 64 concurrent misses on 2 threads run the loader once") {
  testing::io_runner runner(2);
  memory_store s;
  std::atomic<int> calls{0}, right{0};
  for (int i = 0; i < 64; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await s.get_or_load("k", [&]() -> asio::awaitable<result<blob>> {
        ++calls;
        asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
        co_await t.async_wait(asio::use_awaitable);
        co_return blob::copy_of(std::string_view("loaded"));
      });
      if (r && r->view() == "loaded") ++right;
    });
  }
  runner.run();
  CHECK(calls == 1);
  CHECK(right == 64);
  CHECK(s.metrics().puts == 1);
  CHECK(s.try_get("k"));
}

TEST_CASE("get_or_load: a loader failure reaches every waiter and nothing is stored") {
  testing::io_runner runner(2);
  memory_store s;
  std::atomic<int> calls{0}, failed{0};
  for (int i = 0; i < 16; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await s.get_or_load("k", [&]() -> asio::awaitable<result<blob>> {
        ++calls;
        asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
        co_await t.async_wait(asio::use_awaitable);
        co_return errc::backend_unavailable;
      });
      if (!r && r.error() == errc::backend_unavailable) ++failed;
    });
  }
  runner.run();
  CHECK(calls == 1);
  CHECK(failed == 16);
  CHECK_FALSE(s.try_get("k"));
  CHECK(s.metrics().errors == 1);
}

TEST_CASE("get_or_load: a throwing loader is a loader failure, not a crash") {
  testing::io_runner runner;
  memory_store s;
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await s.get_or_load("k", []() -> asio::awaitable<result<blob>> {
      throw std::runtime_error("compiler crashed");
      co_return blob{};
    });
    CHECK(r.error() == errc::loader_failed);
  });
}

TEST_CASE("get_or_load: an invalidation during the load keeps its result out") {
  testing::io_runner runner;
  memory_store s;
  runner.run([&]() -> asio::awaitable<void> {
    asio::steady_timer gate(co_await asio::this_coro::executor, std::chrono::hours(1));
    bool loading = false;
    // The load parks on `gate`; the invalidation runs while it is parked.
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> {
          while (!loading) {
            asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
            co_await t.async_wait(asio::use_awaitable);
          }
          const auto removed = s.invalidate_prefix_now("page/");
          CHECK(removed == 0);
          gate.cancel();
        },
        asio::detached);
    auto r = co_await s.get_or_load("page/1", [&]() -> asio::awaitable<result<blob>> {
      loading = true;
      auto [ec] = co_await gate.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      (void)ec;
      co_return blob::copy_of(std::string_view("rows fetched before the invalidation"));
    });
    REQUIRE(r);                        // the caller still gets what it waited for...
    CHECK_FALSE(s.try_get("page/1"));  // ...but the stale rows are not installed
  });
}

TEST_CASE("get_or_load: a put during the load is not overwritten by the load's result") {
  testing::io_runner runner;
  memory_store s;
  runner.run([&]() -> asio::awaitable<void> {
    asio::steady_timer gate(co_await asio::this_coro::executor, std::chrono::hours(1));
    bool loading = false;
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> {
          while (!loading) {
            asio::steady_timer t(co_await asio::this_coro::executor, 1ms);
            co_await t.async_wait(asio::use_awaitable);
          }
          // The source changed and the new value was put while the old one loads.
          CHECK_FALSE(s.put_now("k", blob::copy_of(std::string_view("v2 (put)")), 0ms));
          gate.cancel();
        },
        asio::detached);
    auto r = co_await s.get_or_load("k", [&]() -> asio::awaitable<result<blob>> {
      loading = true;
      auto [ec] = co_await gate.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
      (void)ec;
      co_return blob::copy_of(std::string_view("v1 (loaded before the put)"));
    });
    REQUIRE(r);
    auto held = s.try_get("k");
    REQUIRE(held);
    CHECK(held->view() == "v2 (put)");
  });
}

TEST_CASE("get_or_load: cancelling one waiter leaves the load to the others") {
  using namespace asio::experimental::awaitable_operators;
  testing::io_runner runner;
  memory_store s;
  std::error_code cancelled_with;
  bool other_got_value = false;
  auto loader = [&]() -> asio::awaitable<result<blob>> {
    asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
    co_await t.async_wait(asio::use_awaitable);
    co_return blob::copy_of(std::string_view("v"));
  };
  runner.spawn([&]() -> asio::awaitable<void> {
    asio::steady_timer deadline(co_await asio::this_coro::executor, 5ms);
    auto outcome =
        co_await (s.get_or_load("k", loader) || deadline.async_wait(asio::use_awaitable));
    if (outcome.index() == 0) cancelled_with = std::get<0>(outcome).error();
  });
  runner.spawn([&]() -> asio::awaitable<void> {
    auto r = co_await s.get_or_load("k", loader);
    other_got_value = r && r->view() == "v";
  });
  runner.run();
  CHECK_FALSE(cancelled_with);  // the timer won: the waiter was cancelled, not completed
  CHECK(other_got_value);
  CHECK(s.try_get("k"));
}

TEST_CASE("get_or_load: a loader that owns resources is destroyed exactly once") {
  testing::io_runner runner;
  memory_store s;
  auto payload = std::make_shared<std::string>(100, 'p');
  runner.run([&]() -> asio::awaitable<void> {
    // A loader owning a string and a shared_ptr: a double destruction would show as a
    // double free under ASan and as a wrong use count below. It is a named object: GCC 12
    // destroys a coroutine-lambda temporary with owning captures twice when it is written
    // inside the co_await expression itself, whatever the callee does with it (README).
    auto loader = [text = std::string(64, 'x'), payload]() -> asio::awaitable<result<blob>> {
      co_return blob::copy_of(text + *payload);
    };
    auto r = co_await s.get_or_load("k", std::move(loader));
    REQUIRE(r);
    CHECK(r->size() == 164);
  });
  CHECK(payload.use_count() == 1);
}
