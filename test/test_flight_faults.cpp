// A flight whose leader throws after its loader returned (a user's eviction listener
// called while the result is stored, an install that throws) still completes every
// waiter: none may hang, and the store goes on working.
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <stdexcept>

#include "larder/detail/live_core.hpp"
#include "larder/layered_store.hpp"
#include "support/io_runner.hpp"
#include "support/test_stores.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {

blob text(std::string_view s) {
  return blob::copy_of(s);
}

// A loader that takes a timer turn, so that every waiter has joined before it returns.
auto slow_loader(std::atomic<int>& calls, std::string_view value) {
  return [&calls, value]() -> asio::awaitable<result<blob>> {
    ++calls;
    asio::steady_timer t(co_await asio::this_coro::executor, 5ms);
    co_await t.async_wait(asio::use_awaitable);
    co_return blob::copy_of(value);
  };
}

}  // namespace

TEST_CASE("get_or_load: a throwing eviction listener during the install leaves no waiter hanging") {
  testing::io_runner runner;
  memory_store store(memory_store_options{.max_entries = 2, .max_bytes = 1 << 20, .shards = 1});
  int evictions_seen = 0;
  store.set_eviction_listener([&](key_view, std::uint64_t, eviction_reason) {
    ++evictions_seen;
    throw std::runtime_error("listener threw on purpose");
  });
  REQUIRE_FALSE(store.put_now("a", text("1"), 0ms));
  REQUIRE_FALSE(store.put_now("b", text("2"), 0ms));
  std::atomic<int> calls{0};
  int completed = 0, right = 0;
  for (int i = 0; i < 8; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await store.get_or_load("k", slow_loader(calls, "loaded"));
      ++completed;
      if (r && r->view() == "loaded") ++right;
    });
  }
  runner.run();
  CHECK(calls == 1);
  CHECK(evictions_seen >= 1);          // the install evicted, and the listener threw
  CHECK(completed == 8);               // nobody hangs
  CHECK(right == 8);                   // the load itself succeeded
  CHECK(store.metrics().errors >= 1);  // the throw is counted, not swallowed
  // The store still works: the key is there, and a new load of another key runs.
  CHECK(store.try_get("k"));
  store.set_eviction_listener({});
  bool later = false;
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await store.get_or_load("other", slow_loader(calls, "x"));
    later = r.has_value();
  });
  CHECK(later);
}

TEST_CASE("get_or_load: an install that throws in the layered store leaves no waiter hanging") {
  testing::io_runner runner;
  auto memory = std::make_shared<memory_store>();
  auto lower = std::make_shared<testing::held_store>();
  lower->throw_on_put = true;
  layered_store stack({any_store(memory, "memory"), any_store(lower, "lower")});
  std::atomic<int> calls{0};
  int completed = 0, right = 0;
  for (int i = 0; i < 8; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await stack.get_or_load("k", slow_loader(calls, "loaded"));
      ++completed;
      if (r && r->view() == "loaded") ++right;
    });
  }
  runner.run();
  CHECK(calls == 1);
  CHECK(completed == 8);
  CHECK(right == 8);
  CHECK(stack.metrics().errors >= 1);
  // A later load of the key starts a new flight rather than joining a dead one.
  lower->throw_on_put = false;
  bool later = false;
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await stack.get_or_load("k2", slow_loader(calls, "y"));
    later = r.has_value();
  });
  CHECK(later);
}

TEST_CASE("live_core: a fill that throws leaves no fetch_shared waiter hanging") {
  testing::io_runner runner;
  auto backing = std::make_shared<testing::held_store>();
  backing->throw_on_put = true;
  live_table_options options;
  options.cache_key = "t";
  auto core = detail::live_core::create(runner.context().get_executor(),
                                        any_store(backing, "throwing"), options);
  REQUIRE(core);
  std::atomic<int> calls{0};
  int completed = 0, right = 0;
  const std::string key = core->page_key(1);
  for (int i = 0; i < 8; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await core->fetch_shared(key, slow_loader(calls, "rows"));
      ++completed;
      if (r && r->view() == "rows") ++right;
    });
  }
  runner.run();
  CHECK(calls == 1);
  CHECK(completed == 8);
  CHECK(right == 8);
  CHECK(core->metrics().fill_faults >= 1);
  // The next read of the key fetches again instead of joining a dead flight.
  backing->throw_on_put = false;
  bool later = false;
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await core->fetch_shared(key, slow_loader(calls, "rows"));
    later = r.has_value();
  });
  CHECK(later);
  CHECK(calls == 2);
}
