#include "larder/layered_store.hpp"

#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <tuple>

#include "larder/null_store.hpp"
#include "support/disk_fixture.hpp"
#include "support/test_stores.hpp"

namespace {
std::shared_ptr<larder::memory_store> memory_tier() {
  return std::make_shared<larder::memory_store>(
      larder::memory_store_options{.max_entries = 10'000, .max_bytes = 256ull << 20});
}
struct memory_over_null {
  static constexpr bool retains = true;
  explicit memory_over_null(asio::io_context&)
      : stack({larder::any_store(memory_tier(), "memory"),
               larder::any_store(std::make_shared<larder::null_store>(), "null")}) {}
  larder::layered_store& store() { return stack; }
  larder::layered_store stack;
};
struct memory_over_memory {
  static constexpr bool retains = true;
  explicit memory_over_memory(asio::io_context&)
      : stack(
            {larder::any_store(memory_tier(), "fast"), larder::any_store(memory_tier(), "slow")}) {}
  larder::layered_store& store() { return stack; }
  larder::layered_store stack;
};
// Memory over a real disk store in a temporary directory, on each io backend.
template <larder::io_backend Backend>
struct memory_over_disk {
  static constexpr bool retains = true;
  explicit memory_over_disk(asio::io_context& io)
      : disk(io),
        stack({larder::any_store(memory_tier(), "memory"),
               larder::any_store(std::shared_ptr<larder::disk_store>(&disk.store(), [](auto*) {}),
                                 "disk")}) {}
  larder::layered_store& store() { return stack; }
  larder::testing::disk_fixture<Backend> disk;  // owns the disk store and its engine
  larder::layered_store stack;
};
}  // namespace

using conformance_fixtures =
    std::tuple<memory_over_null, memory_over_memory, memory_over_disk<larder::io_backend::io_uring>,
               memory_over_disk<larder::io_backend::thread_pool>>;
#include "support/conformance.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {
blob text(std::string_view s) {
  return blob::copy_of(s);
}

// Let other coroutines on this single-threaded context run.
asio::awaitable<void> yield_turns(int n) {
  for (int i = 0; i < n; ++i)
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}
}  // namespace

TEST_CASE("layered_store: a lower-tier hit is promoted into the faster tiers") {
  testing::io_runner runner;
  auto fast = memory_tier(), middle = memory_tier(), slow = memory_tier();
  layered_store stack(
      {any_store(fast, "fast"), any_store(middle, "middle"), any_store(slow, "slow")});
  REQUIRE_FALSE(slow->put_now("k", text("deep value"), 0ms));
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await stack.get("k");
    REQUIRE(r.is_hit());
    CHECK(r.value().view() == "deep value");
  });
  CHECK(fast->try_get("k"));
  CHECK(middle->try_get("k"));
  const auto report = stack.promotions();
  CHECK(report.events == 1);
  CHECK(report.promoted_writes == 2);
  CHECK(report.promoted_bytes == 2 * 10);
  CHECK(report.last_source_tier == 2);
}

TEST_CASE("layered_store: promotion can be turned off, and writes follow the policy") {
  testing::io_runner runner;
  auto fast = memory_tier(), slow = memory_tier();
  layered_store no_promote({any_store(fast, "fast"), any_store(slow, "slow")},
                           {.promote = false, .writes = write_policy::first_tier_only});
  REQUIRE_FALSE(slow->put_now("deep", text("v"), 0ms));
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await no_promote.get("deep");
    CHECK(r.is_hit());
    const auto ec = co_await no_promote.put("top", text("v"));
    CHECK_FALSE(ec);
  });
  CHECK_FALSE(fast->try_get("deep"));
  CHECK(no_promote.promotions().events == 0);
  CHECK(fast->try_get("top"));
  CHECK_FALSE(slow->try_get("top"));  // first tier only
}

TEST_CASE("layered_store: a faulting tier is counted and the read falls through") {
  testing::io_runner runner;
  auto broken = std::make_shared<testing::faulty_store>();
  auto healthy = memory_tier();
  layered_store stack({any_store(broken, "broken"), any_store(healthy, "healthy")});
  REQUIRE_FALSE(healthy->put_now("k", text("v"), 0ms));
  broken->failing = true;
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await stack.get("k");
    CHECK(r.is_hit());
    auto missing = co_await stack.get("nowhere");
    CHECK(missing.is_fault());  // a tier could not say: that is not a plain miss
    CHECK(missing.error() == errc::io_error);
    const auto put_ec = co_await stack.put("new", text("v"));
    CHECK(put_ec == errc::io_error);  // the fault surfaces...
    const auto flush_ec = co_await stack.flush();
    CHECK(flush_ec == errc::io_error);
  });
  // ...after every tier was tried, and the tier that took the value dropped it again: a
  // failed put leaves the key absent rather than served by some tiers only.
  CHECK_FALSE(healthy->try_get("new"));
  const auto tiers = stack.tiers();
  REQUIRE(tiers.size() == 2);
  CHECK(tiers[0].name == "broken");
  CHECK(tiers[0].faults >= 4);
  CHECK(tiers[1].faults == 0);
  // The failed put says which tier took the value and that it was erased again.
  CHECK(tiers[0].last_put_fault == errc::io_error);
  CHECK(tiers[0].last_put_fault_text ==
        "broken faulted on a put of 1 bytes (key of 3 bytes); taken by healthy and erased "
        "again: no tier holds the key");
  CHECK(tiers[1].last_put_fault_text.empty());
  const auto m = stack.metrics();
  CHECK(m.hits == 1);
  CHECK(m.lookups == 2);
  CHECK(m.flush_errors == 1);
  CHECK(m.errors >= 4);
}

TEST_CASE("layered_store: a value too large for memory is still stored below it") {
  testing::io_runner runner;
  auto small =
      std::make_shared<memory_store>(memory_store_options{.max_entries = 10, .max_bytes = 1024});
  auto big = memory_tier();
  layered_store stack({any_store(small, "small"), any_store(big, "big")});
  runner.run([&]() -> asio::awaitable<void> {
    const auto ec = co_await stack.put("k", blob(std::string(4096, 'x')));
    CHECK_FALSE(ec);
    auto r = co_await stack.get("k");
    CHECK(r.is_hit());
  });
  CHECK(big->try_get("k"));
  CHECK_FALSE(small->try_get("k"));
}

TEST_CASE("layered_store: an invalidation during a lower-tier read keeps the value out") {
  testing::io_runner runner;
  auto fast = memory_tier();
  auto slow = std::make_shared<testing::gated_store>();
  slow->get_gate = std::make_shared<testing::gate>();
  layered_store stack({any_store(fast, "fast"), any_store(slow, "slow")});
  REQUIRE_FALSE(slow->inner.put_now("page/1", text("old rows"), 0ms));
  bool read_done = false;
  runner.run([&]() -> asio::awaitable<void> {
    asio::co_spawn(
        co_await asio::this_coro::executor,
        [&]() -> asio::awaitable<void> {
          auto r = co_await stack.get("page/1");  // reads the old rows, then waits at the gate
          read_done = r.is_hit();
        },
        asio::detached);
    while (slow->get_gate->waiting() == 0)
      co_await yield_turns(1);
    auto removed = co_await stack.invalidate_prefix("page/");
    REQUIRE(removed);
    CHECK(*removed == 1);
    slow->get_gate->open();
    while (!read_done)
      co_await yield_turns(1);
    auto after = co_await stack.get("page/1");
    CHECK(after.is_miss());
  });
  CHECK_FALSE(fast->try_get("page/1"));  // the promotion saw the invalidation and stood down
  CHECK(stack.promotions().events == 0);
}

TEST_CASE("layered_store: an invalidation waits out a promotion already writing") {
  testing::io_runner runner;
  auto fast = std::make_shared<testing::gated_store>();
  fast->put_gate = std::make_shared<testing::gate>();
  auto slow = memory_tier();
  layered_store stack({any_store(fast, "fast"), any_store(slow, "slow")});
  REQUIRE_FALSE(slow->put_now("page/1", text("old rows"), 0ms));
  bool invalidated = false, read_done = false;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await stack.get("page/1");  // promotion passes its check, then the put waits
          read_done = r.is_hit();
        },
        asio::detached);
    while (fast->put_gate->waiting() == 0)
      co_await yield_turns(1);
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto removed = co_await stack.invalidate_prefix("page/");
          invalidated = removed.has_value();
        },
        asio::detached);
    co_await yield_turns(20);
    CHECK_FALSE(invalidated);  // it must not complete while the promotion is unsettled
    fast->put_gate->open();
    while (!invalidated || !read_done) {
      asio::steady_timer t(ex, 1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    auto after = co_await stack.get("page/1");
    CHECK(after.is_miss());
  });
  CHECK_FALSE(fast->inner.try_get("page/1"));
  CHECK(stack.promotions().withdrawn == 1);
}

TEST_CASE("layered_store: 64 concurrent misses on 2 threads load once and write each tier once") {
  testing::io_runner runner(2);
  auto fast = std::make_shared<testing::gated_store>();
  auto slow = std::make_shared<testing::faulty_store>();
  layered_store stack({any_store(fast, "fast"), any_store(slow, "slow")});
  std::atomic<int> calls{0}, right{0};
  for (int i = 0; i < 64; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await stack.get_or_load("artifact", [&]() -> asio::awaitable<result<blob>> {
        ++calls;
        asio::steady_timer t(co_await asio::this_coro::executor, 20ms);
        co_await t.async_wait(asio::use_awaitable);
        co_return blob::copy_of(std::string_view("object code"));
      });
      if (r && r->view() == "object code") ++right;
    });
  }
  runner.run();
  CHECK(calls == 1);
  CHECK(right == 64);
  CHECK(fast->puts == 1);
  CHECK(slow->puts == 1);
}

TEST_CASE("layered_store: a loader failure reaches every waiter and writes nothing") {
  testing::io_runner runner(2);
  auto fast = std::make_shared<testing::gated_store>();
  layered_store stack({any_store(fast, "fast"), any_store(memory_tier(), "slow")});
  std::atomic<int> calls{0}, failed{0};
  for (int i = 0; i < 16; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await stack.get_or_load("k", [&]() -> asio::awaitable<result<blob>> {
        ++calls;
        asio::steady_timer t(co_await asio::this_coro::executor, 10ms);
        co_await t.async_wait(asio::use_awaitable);
        co_return errc::backend_unavailable;
      });
      if (r.error() == errc::backend_unavailable) ++failed;
    });
  }
  runner.run();
  CHECK(calls == 1);
  CHECK(failed == 16);
  CHECK(fast->puts == 0);
}
