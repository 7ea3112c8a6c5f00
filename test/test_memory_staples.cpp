// The staples: weigher, removal causes, per-entry TTL on the async put, time to idle (an
// injected clock, no sleeps), and coalesced get_or_load callers in the layered metrics.
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>

#include "larder/layered_store.hpp"
#include "larder/memory_store.hpp"
#include "support/io_runner.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {
// A clock the test moves by hand.
struct manual_clock {
  std::shared_ptr<std::chrono::steady_clock::time_point> now =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  auto fn() const {
    return [now = now] { return *now; };
  }
  void advance(std::chrono::milliseconds d) const { *now += d; }
};
}  // namespace

TEST_CASE("memory_store: a weigher's weight is what the byte budget counts") {
  memory_store s({.max_entries = 1000,
                  .max_bytes = 100,
                  .weigher = [](std::string_view, const blob& v) -> std::uint64_t {
                    return v.size() == 0 ? 1 : v.view()[0] - '0';
                  },
                  .shards = 1});
  std::vector<std::uint64_t> weights;
  s.set_removal_listener(
      [&](std::string_view, std::uint64_t w, removal_cause) { weights.push_back(w); });
  for (int i = 0; i < 20; ++i)
    REQUIRE_FALSE(s.put_now("k" + std::to_string(i), blob::copy_of("5 and a long tail"), 0ms));
  CHECK(s.metrics().bytes == 100);
  CHECK(s.metrics().entries == 20);
  REQUIRE_FALSE(s.put_now("one more", blob::copy_of("9"), 0ms));
  CHECK(s.metrics().bytes <= 100);
  REQUIRE(weights.size() == 2);  // two entries of weight 5 made room for 9
  CHECK(weights[0] == 5);
}

TEST_CASE("memory_store: the removal listener names every cause") {
  manual_clock clock;
  memory_store s({.max_entries = 3, .max_bytes = 1 << 20, .shards = 1, .clock = clock.fn()});
  std::map<std::string, removal_cause> heard;
  s.set_removal_listener([&](std::string_view k, std::uint64_t, removal_cause c) {
    heard.emplace(std::string(k), c);
  });
  REQUIRE_FALSE(s.put_now("replaced", blob::copy_of("1"), 0ms));
  REQUIRE_FALSE(s.put_now("replaced", blob::copy_of("2"), 0ms));
  REQUIRE_FALSE(s.put_now("erased", blob::copy_of("v"), 0ms));
  testing::io_runner runner;
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await s.erase("erased");
    CHECK(*r);
    const auto ec = co_await s.put("expiring", blob::copy_of("v"), put_options{.ttl = 10ms});
    CHECK_FALSE(ec);
  });
  clock.advance(11ms);
  CHECK(s.reclaim_expired() == 1);
  REQUIRE_FALSE(s.put_now("p/1", blob::copy_of("v"), 0ms));
  CHECK(s.invalidate_prefix_now("p/") == 1);
  REQUIRE_FALSE(s.put_now("refused", blob::copy_of("v"), 0ms));
  CHECK(s.put_now("refused", blob(std::string(2 << 20, 'x')), 0ms) == errc::value_too_large);
  for (int i = 0; i < 6; ++i)
    REQUIRE_FALSE(s.put_now("fill/" + std::to_string(i), blob::copy_of("v"), 0ms));
  CHECK(heard.at("replaced") == removal_cause::replaced);
  CHECK(heard.at("erased") == removal_cause::explicit_removal);
  CHECK(heard.at("expiring") == removal_cause::expired);
  CHECK(heard.at("p/1") == removal_cause::invalidated_prefix);
  CHECK(heard.at("refused") == removal_cause::rejected_put);
  CHECK(heard.at("fill/0") == removal_cause::size);
  CHECK(std::string(to_string(removal_cause::invalidated_prefix)) == "invalidated by prefix");
}

TEST_CASE("memory_store: the async put takes a per-entry TTL") {
  manual_clock clock;
  memory_store s({.default_ttl = 1h, .clock = clock.fn()});
  testing::io_runner runner;
  runner.run([&]() -> asio::awaitable<void> {
    CHECK_FALSE(co_await s.put("short", blob::copy_of("v"), put_options{.ttl = 50ms}));
    CHECK_FALSE(co_await s.put("forever", blob::copy_of("v"), put_options{.ttl = 0ms}));
    CHECK_FALSE(co_await s.put("default", blob::copy_of("v"), put_options{}));
  });
  clock.advance(49ms);
  CHECK(s.try_get("short"));
  clock.advance(1ms);
  CHECK_FALSE(s.try_get("short"));
  clock.advance(2h);
  CHECK_FALSE(s.try_get("default"));
  CHECK(s.try_get("forever"));
  CHECK(s.reclaim_expired() == 2);
}

TEST_CASE("memory_store: time to idle expires entries not read for that long") {
  manual_clock clock;
  memory_store s({.time_to_idle = 100ms, .clock = clock.fn()});
  REQUIRE_FALSE(s.put_now("read", blob::copy_of("v"), 0ms));
  REQUIRE_FALSE(s.put_now("idle", blob::copy_of("v"), 0ms));
  REQUIRE_FALSE(s.put_now("capped", blob::copy_of("v"), 250ms));
  for (int i = 0; i < 5; ++i) {
    clock.advance(60ms);
    CHECK(s.try_get("read"));
    if (i < 4) CHECK(s.try_get("capped"));  // hit every 60 ms: never idle for 100
  }
  // 300 ms on: "read" was hit every 60 ms, "idle" never, "capped"'s TTL ran out at 250.
  CHECK(s.try_get("read"));
  CHECK_FALSE(s.try_get("idle"));
  CHECK_FALSE(s.try_get("capped"));
  CHECK(s.reclaim_expired() == 2);
  CHECK(s.metrics().entries == 1);
  clock.advance(100ms);
  CHECK(s.reclaim_expired() == 1);
  CHECK(s.metrics().entries == 0);
}

TEST_CASE("layered_store: get_or_load callers that join a load are counted") {
  testing::io_runner runner;
  std::vector<any_store> tiers;
  tiers.emplace_back(std::make_shared<memory_store>(), "memory");
  layered_store stack(std::move(tiers));
  int loads = 0;
  for (int i = 0; i < 10; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto v = co_await stack.get_or_load("k", [&]() -> asio::awaitable<result<blob>> {
        ++loads;
        // Yield once, so that the other callers miss and join while this load runs.
        auto ex = co_await asio::this_coro::executor;
        co_await asio::post(ex, asio::use_awaitable);
        co_return blob::copy_of("loaded");
      });
      CHECK(v);
    });
  }
  runner.run();
  CHECK(loads == 1);
  const auto m = stack.metrics();
  CHECK(m.coalesced + m.lookups == 10);
  CHECK(m.coalesced == 9);
  CHECK(m.lookups == 1);
}
