// redis_store at maxmemory, and invalidation_bus::attach's checks: a full cache under
// noeviction can still be invalidated (also across nodes), an allkeys-* policy that
// could evict the prefix index is refused with its name, and a bus is never attached so
// that it deletes other nodes' writes.
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <catch2/catch.hpp>

#include "larder/invalidation_bus.hpp"
#include "larder/layered_store.hpp"
#include "larder/memory_store.hpp"
#include "larder/redis_store.hpp"
#include "support/io_runner.hpp"
#include "support/redis_server.hpp"

using namespace larder;
using namespace std::chrono_literals;
using testing::redis_server;
using testing::server_config;

namespace {

std::string fresh_namespace() {
  static std::atomic<int> next{0};
  return "m" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

blob bytes_of(std::string_view s) {
  return blob::copy_of(s);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

redis_store_options on(const redis_server& server) {
  redis_store_options o;
  o.port = server.port();
  o.name_space = fresh_namespace();
  o.timeout = 2000ms;
  return o;
}

}  // namespace

TEST_CASE("limits: a full cache under noeviction can still be invalidated, also on other nodes",
          "[redis][maxmemory]") {
  redis_server server(server_config{{"--maxmemory", "2mb", "--maxmemory-policy", "noeviction"}});
  testing::io_runner runner;
  auto o = on(server);
  o.node_id = "writer";
  redis_store s(runner.context().get_executor(), o);
  // Another node's memory tier, kept fresh by its bus.
  auto memory = std::make_shared<memory_store>(memory_store_options{});
  invalidation_bus_options bo;
  bo.port = server.port();
  bo.name_space = o.name_space;
  bo.node_id = "other";
  invalidation_bus bus(runner.context().get_executor(), bo);
  bus.attach(any_store(memory, "memory"));
  bus.start();
  const std::string value(16 * 1024, 'x');
  runner.run([&]() -> asio::awaitable<void> {
    // Stopped also when a REQUIRE throws, so the io_context runs out of work.
    struct stop_bus {
      invalidation_bus& bus;
      ~stop_bus() { bus.stop(); }
    } stopper{bus};
    REQUIRE(co_await bus.wait_subscribed(5s));
    int stored = 0;
    std::error_code refused;
    for (int i = 0; i < 1000 && !refused; ++i) {
      refused = co_await s.put("p/" + std::to_string(i), bytes_of(value));
      if (!refused) ++stored;
    }
    REQUIRE(refused == errc::no_space);  // OOM, named as such
    REQUIRE(stored > 10);
    REQUIRE_FALSE(co_await memory->put("p/0", bytes_of("cached here")));
    const auto before = bus.report().messages;
    // Full: the removals still run (allow-oom), and publish.
    auto erased = co_await s.erase("p/1");
    REQUIRE(erased.has_value());
    CHECK(*erased);
    auto removed = co_await s.invalidate_prefix("p/");
    REQUIRE(removed.has_value());
    CHECK(*removed == static_cast<std::uint64_t>(stored - 1));
    for (int i = 0; i < 200 && bus.report().messages < before + 2; ++i)
      co_await sleep_for(5ms);
    auto local = co_await memory->get("p/0");
    CHECK(local.is_miss());
    for (int i : {0, 2, stored - 1}) {
      auto r = co_await s.get("p/" + std::to_string(i));
      CHECK(r.is_miss());
    }
    // And the room is back.
    CHECK_FALSE(co_await s.put("q", bytes_of(value)));
  });
  CHECK(s.report().out_of_memory >= 1);
  CHECK(contains(s.report().last_error, "OOM"));
}

TEST_CASE("limits: an allkeys-* eviction policy is refused, naming the policy",
          "[redis][maxmemory]") {
  redis_server server(server_config{{"--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"}});
  testing::io_runner runner;
  redis_store refused(runner.context().get_executor(), on(server));
  auto o = on(server);
  o.accept_allkeys_eviction = true;
  redis_store accepted(runner.context().get_executor(), o);
  runner.run([&]() -> asio::awaitable<void> {
    const auto ec = co_await refused.put("k", bytes_of("v"));
    CHECK(ec == errc::remote_setup_failed);
    auto r = co_await refused.get("k");
    CHECK(r.is_fault());
    CHECK_FALSE(co_await accepted.put("k", bytes_of("v")));
  });
  const auto report = refused.report();
  INFO(report.last_error);
  CHECK(contains(report.last_error,
                 "maxmemory-policy check on 127.0.0.1:" + std::to_string(server.port())));
  CHECK(contains(report.last_error, "maxmemory-policy is allkeys-lru"));
  CHECK(report.setup_failures == 1);
}

TEST_CASE("limits: a volatile-* policy is accepted: it evicts only values with a TTL",
          "[redis][maxmemory]") {
  redis_server server(server_config{{"--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru"}});
  testing::io_runner runner;
  redis_store s(runner.context().get_executor(), on(server));
  runner.run([&]() -> asio::awaitable<void> { CHECK_FALSE(co_await s.put("k", bytes_of("v"))); });
  CHECK(s.report().setup_failures == 0);
}

TEST_CASE("limits: attach refuses what would crash or delete other nodes' writes") {
  asio::io_context io;
  auto memory = std::make_shared<memory_store>(memory_store_options{});
  redis_store_options ro;
  ro.port = 1;  // never reached: nothing here connects
  auto redis = std::make_shared<redis_store>(io.get_executor(), ro);
  auto stack = std::make_shared<layered_store>(
      std::vector<any_store>{any_store(memory, "memory"), any_store(redis, "redis")});
  invalidation_bus bus(io.get_executor(), invalidation_bus_options{});
  struct bad {
    std::function<void()> attach;
    const char* names;
  };
  const std::vector<bad> cases = {
      {[&] { bus.attach(nullptr, 1); }, "the stack is null"},
      {[&] { bus.attach(stack, 0); }, "local_tiers is 0"},
      {[&] { bus.attach(stack, 3); }, "local_tiers 3 is past the stack's 2 tiers"},
      {[&] { bus.attach(stack, 2); }, "tier 1 ('redis') is a redis_store"},
      {[&] { bus.attach(any_store(redis, "shared")); }, "store 'shared' is a redis_store"},
  };
  for (const auto& c : cases) {
    INFO(c.names);
    try {
      c.attach();
      FAIL("accepted");
    } catch (const std::system_error& e) {
      CHECK(e.code() == errc::invalid_argument);
      CHECK(contains(e.what(), c.names));
    }
  }
  CHECK_NOTHROW(bus.attach(stack, 1));
  auto local_only = std::make_shared<layered_store>(std::vector<any_store>{any_store(memory, "m")});
  CHECK_NOTHROW(bus.attach(local_only, 1));
}
