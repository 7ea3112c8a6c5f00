// redis_store against a real redis-server started by the test (exit 77 when there is none).
#include "larder/redis_store.hpp"

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <tuple>

#include "larder/layered_store.hpp"
#include "larder/memory_store.hpp"
#include "support/redis_server.hpp"

namespace {

std::string fresh_namespace() {
  static std::atomic<int> next{0};
  return "t" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

larder::redis_store_options options_for(const larder::testing::redis_server& server) {
  larder::redis_store_options o;
  o.port = server.port();
  o.name_space = fresh_namespace();
  o.timeout = std::chrono::milliseconds(2000);
  return o;
}

struct redis_fixture {
  static constexpr bool retains = true;
  explicit redis_fixture(asio::io_context& io)
      : store_(io.get_executor(), options_for(larder::testing::redis_server::shared())) {}
  larder::redis_store& store() { return store_; }
  larder::redis_store store_;
};

struct pooled_fixture {
  static constexpr bool retains = true;
  static larder::redis_store_options pooled() {
    auto o = options_for(larder::testing::redis_server::shared());
    o.connections = 3;
    return o;
  }
  explicit pooled_fixture(asio::io_context& io) : store_(io.get_executor(), pooled()) {}
  larder::redis_store& store() { return store_; }
  larder::redis_store store_;
};

struct memory_over_redis {
  static constexpr bool retains = true;
  explicit memory_over_redis(asio::io_context& io)
      : stack(
            {larder::any_store(std::make_shared<larder::memory_store>(larder::memory_store_options{
                                   .max_entries = 10'000, .max_bytes = 256ull << 20}),
                               "memory"),
             larder::any_store(
                 std::make_shared<larder::redis_store>(
                     io.get_executor(), options_for(larder::testing::redis_server::shared())),
                 "redis")}) {}
  larder::layered_store& store() { return stack; }
  larder::layered_store stack;
};

}  // namespace

using conformance_fixtures = std::tuple<redis_fixture, pooled_fixture, memory_over_redis>;
#include "support/conformance.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

}  // namespace

TEST_CASE("redis_store: a value that fails verification is a counted miss, and is removed",
          "[redis]") {
  auto& server = testing::redis_server::shared();
  testing::io_runner runner;
  auto options = options_for(server);
  redis_store s(runner.context().get_executor(), options);
  const std::string data_key = "{" + options.name_space + "}:d:victim";
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto ec = co_await s.put("victim", testing::bytes_of("genuine bytes"));
      REQUIRE_FALSE(ec);
    }
    // Flip the stored bytes behind the store's back (same length, header intact).
    const std::string forge = "SETRANGE " + data_key + " 16 GENUINE";
    REQUIRE(server.command_ok(forge.c_str()));
    auto got = co_await s.get("victim");
    CHECK(got.is_miss());
    CHECK(s.report().corrupt_values == 1);
    CHECK(s.metrics().errors == 1);
    // It was removed: a fresh put and get work again.
    auto again = co_await s.get("victim");
    CHECK(again.is_miss());
    CHECK(s.report().corrupt_values == 1);
    // A value that is not ours at all.
    const std::string junk = "SET " + data_key + " junk";
    REQUIRE(server.command_ok(junk.c_str()));
    auto foreign = co_await s.get("victim");
    CHECK(foreign.is_miss());
    CHECK(s.report().corrupt_values == 2);
  });
}

TEST_CASE("redis_store: invalidate_prefix crosses batches and handles 0xff prefixes", "[redis]") {
  testing::io_runner runner;
  redis_store s(runner.context().get_executor(), options_for(testing::redis_server::shared()));
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 1300; ++i) {
      std::string key = "group/" + std::to_string(i);
      const auto ec = co_await s.put(key, testing::bytes_of("v"));
      REQUIRE_FALSE(ec);
    }
    const std::string ff("\xff\xff", 2),
        ffa("\xff\xff"
            "a",
            3),
        fe("\xfe", 1);
    for (const auto& k : {ff, ffa, fe, std::string("grouq"), std::string("group")}) {
      const auto ec = co_await s.put(k, testing::bytes_of("x"));
      REQUIRE_FALSE(ec);
    }
    auto removed = co_await s.invalidate_prefix("group/");
    REQUIRE(removed.has_value());
    CHECK(*removed == 1300);
    CHECK(s.metrics().entries == 5);
    removed = co_await s.invalidate_prefix(ff);
    REQUIRE(removed.has_value());
    CHECK(*removed == 2);
    auto kept = co_await s.get(fe);
    CHECK(kept.is_hit());
    auto kept2 = co_await s.get("group");
    CHECK(kept2.is_hit());
    CHECK(s.metrics().entries == 3);
  });
}

namespace {
// calls=N of one command in INFO commandstats (0 when it never ran).
long long calls_of(const std::string& stats, const std::string& command) {
  const auto at = stats.find("cmdstat_" + command + ":calls=");
  if (at == std::string::npos) return 0;
  return std::stoll(stats.substr(at + command.size() + 15));
}
}  // namespace

TEST_CASE("redis_store: invalidate_prefix touches only the matches, whatever the keyspace",
          "[redis]") {
  auto& server = testing::redis_server::shared();
  testing::io_runner runner;
  redis_store s(runner.context().get_executor(), options_for(server));
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5000; ++i) {
      std::string key = "bulk/" + std::to_string(i);
      const auto ec = co_await s.put(key, testing::bytes_of("v"));
      REQUIRE_FALSE(ec);
    }
    for (const char* k : {"needle/1", "needle/2", "needle/3"}) {
      const auto ec = co_await s.put(k, testing::bytes_of("n"));
      REQUIRE_FALSE(ec);
    }
    REQUIRE(server.command_ok("CONFIG RESETSTAT"));
    auto removed = co_await s.invalidate_prefix("needle/");
    REQUIRE(removed.has_value());
    CHECK(*removed == 3);
    const auto stats = server.command_text("INFO commandstats");
    REQUIRE_FALSE(stats.empty());
    // One index range query, one unlink per match, and no scan of the keyspace.
    CHECK(calls_of(stats, "zrangebylex") == 1);
    CHECK(calls_of(stats, "unlink") == 3);
    CHECK(calls_of(stats, "scan") == 0);
    CHECK(calls_of(stats, "keys") == 0);
    CHECK(s.metrics().entries == 5000);
  });
}

TEST_CASE("redis_store: entries with a time to live expire and leave the index", "[redis]") {
  testing::io_runner runner;
  auto options = options_for(testing::redis_server::shared());
  options.ttl = 60ms;
  redis_store s(runner.context().get_executor(), options);
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto ec = co_await s.put("short", testing::bytes_of("lived"));
      REQUIRE_FALSE(ec);
    }
    auto fresh = co_await s.get("short");
    CHECK(fresh.is_hit());
    CHECK(s.metrics().entries == 1);
    const auto bytes_with_one = s.metrics().bytes;
    CHECK(bytes_with_one >= 5 + 5);
    co_await sleep_for(150ms);
    auto expired = co_await s.get("short");
    CHECK(expired.is_miss());
    // The next write trims the expired entry from the index and the byte gauge.
    {
      const auto ec = co_await s.put("next", testing::bytes_of("lived"));
      REQUIRE_FALSE(ec);
    }
    CHECK(s.metrics().entries == 1);
    CHECK(s.metrics().bytes == bytes_with_one - 5 + 4);
  });
}

TEST_CASE("redis_store: overwrites keep the gauges exact, with and without a time to live",
          "[redis]") {
  testing::io_runner runner;
  auto options = options_for(testing::redis_server::shared());
  options.ttl = 60ms;
  redis_store expiring(runner.context().get_executor(), options);
  options.ttl = 0ms;  // a second node on the same namespace, without a time to live
  redis_store lasting(runner.context().get_executor(), options);
  constexpr std::uint64_t header = 16;  // each stored value's header (docs/redis.md)
  runner.run([&]() -> asio::awaitable<void> {
    std::error_code ec = co_await expiring.put("a", testing::bytes_of("lived"));
    REQUIRE_FALSE(ec);
    ec = co_await expiring.put("a", testing::bytes_of("longer!"));
    REQUIRE_FALSE(ec);
    CHECK(expiring.metrics().entries == 1);
    CHECK(expiring.metrics().bytes == 1 + header + 7);
    co_await sleep_for(150ms);
    // Expired in Redis: the re-put trims the old entry first and counts the new one once.
    ec = co_await expiring.put("a", testing::bytes_of("xy"));
    REQUIRE_FALSE(ec);
    CHECK(expiring.metrics().entries == 1);
    CHECK(expiring.metrics().bytes == 1 + header + 2);
    // Overwritten without a time to live: the key leaves the expiry bookkeeping and stays.
    ec = co_await lasting.put("a", testing::bytes_of("kept"));
    REQUIRE_FALSE(ec);
    CHECK(lasting.metrics().bytes == 1 + header + 4);
    co_await sleep_for(150ms);
    ec = co_await expiring.put("b", testing::bytes_of("q"));  // a write that trims
    REQUIRE_FALSE(ec);
    auto kept = co_await lasting.get("a");
    CHECK(kept.is_hit());
    CHECK(expiring.metrics().entries == 2);
    CHECK(expiring.metrics().bytes == (1 + header + 4) + (1 + header + 1));
  });
}

TEST_CASE("redis_store: no server: requests fail fast as faults, and are counted", "[redis]") {
  testing::io_runner runner;
  auto& server = testing::redis_server::shared();
  redis_store_options options;
  options.port = server.port();
  options.name_space = fresh_namespace();
  options.port = static_cast<std::uint16_t>(server.port() == 1 ? 2 : 1);  // nothing listens
  options.timeout = 5000ms;
  redis_store s(runner.context().get_executor(), options);
  runner.run([&]() -> asio::awaitable<void> {
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 5; ++i) {
      auto r = co_await s.get("k");
      REQUIRE(r.is_fault());
      CHECK(r.error() == errc::backend_unavailable);
      const auto ec = co_await s.put("k", testing::bytes_of("v"));
      CHECK(ec == errc::backend_unavailable);
    }
    CHECK(std::chrono::steady_clock::now() - started < 1000ms);
  });
  const auto m = s.metrics();
  CHECK(m.lookups == 5);
  CHECK(m.errors == 10);
  CHECK(m.rejected_puts == 5);
  CHECK(s.report().connect_failures >= 1);
  CHECK(s.report().unavailable == 10);
}

TEST_CASE("redis_store: a stalled server times requests out, then the store recovers",
          "[redis][integration]") {
  auto& server = testing::redis_server::shared();
  testing::io_runner runner;
  auto options = options_for(server);
  options.timeout = 150ms;
  redis_store s(runner.context().get_executor(), options);
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto ec = co_await s.put("k", testing::bytes_of("v"));
      REQUIRE_FALSE(ec);
    }
    server.pause();
    const auto started = std::chrono::steady_clock::now();
    auto r = co_await s.get("k");
    const auto waited = std::chrono::steady_clock::now() - started;
    server.resume();
    REQUIRE(r.is_fault());
    CHECK(r.error() == errc::timed_out);
    CHECK(waited >= 140ms);
    CHECK(waited < 1000ms);
    CHECK(s.report().timeouts == 1);
    // The connection was reset; within the backoff a new one serves again.
    bool recovered = false;
    for (int i = 0; i < 200 && !recovered; ++i) {
      auto again = co_await s.get("k");
      recovered = again.is_hit() && again.value().view() == "v";
      if (!recovered) co_await sleep_for(10ms);
    }
    CHECK(recovered);
  });
}

TEST_CASE("redis_store: killing and restarting redis-server mid-run", "[redis][integration]") {
  auto& server = testing::redis_server::shared();
  testing::io_runner runner;
  auto options = options_for(server);
  options.timeout = 500ms;
  auto redis = std::make_shared<redis_store>(runner.context().get_executor(), options);
  auto memory = std::make_shared<memory_store>(memory_store_options{.max_entries = 1000});
  layered_store stack({any_store(memory, "memory"), any_store(redis, "redis")});
  int wrong = 0, faults_while_down = 0, hits_while_down = 0;
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 50; ++i) {
      const std::string key = "run/" + std::to_string(i);
      const auto ec = co_await stack.put(key, testing::stamped_value(key, 1, 100));
      REQUIRE_FALSE(ec);
    }
    server.kill();
    for (int i = 0; i < 50; ++i) {
      const std::string key = "run/" + std::to_string(i);
      // The memory tier still answers; the Redis tier's faults are counted, not fatal.
      auto r = co_await stack.get(key);
      if (r.is_hit()) {
        ++hits_while_down;
        if (!testing::stamp_is_genuine(key, r.value())) ++wrong;
      }
      auto direct = co_await redis->get(key);
      if (direct.is_fault()) ++faults_while_down;
      const auto ec = co_await redis->put(key, testing::stamped_value(key, 2, 100));
      if (ec) ++faults_while_down;
    }
    REQUIRE(server.start());
    // The data is gone with the process (no persistence); the store must serve again.
    bool served = false;
    for (int i = 0; i < 300 && !served; ++i) {
      const auto ec = co_await redis->put("after", testing::bytes_of("restart"));
      if (!ec) {
        auto r = co_await redis->get("after");
        served = r.is_hit() && r.value().view() == "restart";
      }
      if (!served) co_await sleep_for(10ms);
    }
    CHECK(served);
    auto lost = co_await redis->get("run/3");
    CHECK(lost.is_miss());
  });
  CHECK(wrong == 0);
  CHECK(hits_while_down == 50);
  CHECK(faults_while_down == 100);
  const auto report = redis->report();
  CHECK(report.disconnects >= 1);
  CHECK(report.connects >= 2);
  CHECK(redis->metrics().errors >= 100);
  CHECK(report.connections_up == 1);
}

TEST_CASE("redis_store: many coroutines' requests share one pipelined connection", "[redis]") {
  testing::io_runner runner(2);
  redis_store s(runner.context().get_executor(), options_for(testing::redis_server::shared()));
  std::atomic<int> bad{0}, done{0};
  for (int w = 0; w < 64; ++w) {
    runner.spawn([&, w]() -> asio::awaitable<void> {
      for (int i = 0; i < 40; ++i) {
        const std::string key = "p/" + std::to_string(w) + "/" + std::to_string(i);
        auto value = testing::stamped_value(key, static_cast<std::uint64_t>(i), 64);
        if (co_await s.put(key, std::move(value))) ++bad;
        auto r = co_await s.get(key);
        if (!r.is_hit() || !testing::stamp_is_genuine(key, r.value())) ++bad;
      }
      ++done;
    });
  }
  runner.run();
  CHECK(bad == 0);
  CHECK(done == 64);
  CHECK(s.report().connects == 1);
  CHECK(s.metrics().entries == 64 * 40);
}

TEST_CASE("redis_store: options are checked") {
  asio::io_context io;
  redis_store_options bad;
  bad.name_space = "a{b}";
  CHECK_THROWS_AS(redis_store(io.get_executor(), bad), std::system_error);
  redis_store_options none;
  none.connections = 0;
  CHECK_THROWS_AS(redis_store(io.get_executor(), none), std::system_error);
}
