// invalidation_bus: nodes sharing one Redis keep their local tiers fresh; in one process
// (two stacks with their own node ids) and across two processes.
#include "larder/invalidation_bus.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <future>
#include <thread>
#include <vector>

#include "larder/layered_store.hpp"
#include "larder/live_table.hpp"
#include "larder/memory_store.hpp"
#include "larder/redis_store.hpp"
#include "support/io_runner.hpp"
#include "support/node_process.hpp"
#include "support/redis_server.hpp"
#include "support/sqlite_master.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {

std::string fresh_namespace() {
  static int next = 0;
  return "bus" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

// One node: memory over Redis, and a bus that keeps the memory tier fresh.
struct node {
  node(const asio::any_io_executor& executor, std::uint16_t port, const std::string& ns,
       const std::string& id) {
    redis_store_options ro;
    ro.port = port;
    ro.name_space = ns;
    ro.node_id = id;
    memory = std::make_shared<memory_store>(memory_store_options{.max_entries = 10'000});
    redis = std::make_shared<redis_store>(executor, ro);
    stack = std::make_shared<layered_store>(
        std::vector<any_store>{any_store(memory, "memory"), any_store(redis, "redis")});
    invalidation_bus_options bo;
    bo.port = port;
    bo.name_space = ns;
    bo.node_id = id;
    bus = std::make_unique<invalidation_bus>(executor, bo);
    bus->attach(stack, 1);
    bus->start();
    redis->confirm_with(*bus);  // a write completes once every other node applied it
  }
  std::shared_ptr<memory_store> memory;
  std::shared_ptr<redis_store> redis;
  std::shared_ptr<layered_store> stack;
  std::unique_ptr<invalidation_bus> bus;
};

// Stops buses when a test coroutine ends, also by a failed REQUIRE, so that the
// io_context runs out of work.
struct stop_on_exit {
  std::vector<invalidation_bus*> buses;
  ~stop_on_exit() {
    for (auto* b : buses)
      b->stop();
  }
};

// An io_context run by its own thread, for tests that drive a node from the test thread.
// finish() lets it run out of work; a failed REQUIRE instead stops it, so the test ends.
struct background_io {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::thread thread{[this] { io.run(); }};
  void finish() {
    guard.reset();
    if (thread.joinable()) thread.join();
  }
  ~background_io() {
    if (!thread.joinable()) return;
    guard.reset();
    io.stop();
    thread.join();
  }
};

std::string temp_base() {
  const char* base = std::getenv("LARDER_TEST_TMP");
  return base && *base ? base : "/tmp";
}

// Waits (polling each ms) until `done()` or `limit`; returns the time it took.
template <class Done>
asio::awaitable<std::chrono::nanoseconds> until(Done done, std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  while (!done() && std::chrono::steady_clock::now() - start < limit)
    co_await sleep_for(1ms);
  co_return std::chrono::steady_clock::now() - start;
}

}  // namespace

TEST_CASE("invalidation_bus: another node's removals and writes reach this node's memory",
          "[redis][integration]") {
  auto& server = testing::redis_server::shared();
  testing::io_runner runner;
  const auto ns = fresh_namespace();
  node a(runner.context().get_executor(), server.port(), ns, "node-a");
  node b(runner.context().get_executor(), server.port(), ns, "node-b");
  std::vector<double> latencies_ms;
  runner.run([&]() -> asio::awaitable<void> {
    stop_on_exit stop{{a.bus.get(), b.bus.get()}};
    const bool ready_a = co_await a.bus->wait_subscribed(5s);
    const bool ready_b = co_await b.bus->wait_subscribed(5s);
    REQUIRE(ready_a);
    REQUIRE(ready_b);
    for (int round = 0; round < 20; ++round) {
      {
        const auto ec = co_await a.stack->put("dash/7/page/0", blob::copy_of("v1"));
        REQUIRE_FALSE(ec);
      }
      {
        const auto ec = co_await a.stack->put("dashboard", blob::copy_of("neighbour"));
        REQUIRE_FALSE(ec);
      }
      // a's puts are announced and confirmed: b applied them before they completed, so
      // they cannot drop the copies b makes now.
      // b reads through Redis and keeps copies in its memory tier.
      auto first = co_await b.stack->get("dash/7/page/0");
      REQUIRE(first.is_hit());
      auto neighbour = co_await b.stack->get("dashboard");
      REQUIRE(neighbour.is_hit());
      REQUIRE(b.memory->try_get("dash/7/page/0"));
      const auto before = b.bus->report().applied;
      const auto t0 = std::chrono::steady_clock::now();
      auto removed = co_await a.stack->invalidate_prefix("dash/7/");
      REQUIRE(removed.has_value());
      latencies_ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      // Confirmed: when it completes, b has already dropped its copy. No waiting.
      CHECK_FALSE(b.memory->try_get("dash/7/page/0"));
      CHECK(b.memory->try_get("dashboard"));  // the terminated prefix spares it
      CHECK(b.bus->report().applied > before);
      auto after = co_await b.stack->get("dash/7/page/0");
      CHECK(after.is_miss());
    }
    // A write by a: b's copy goes, and b's next read is the new value.
    {
      const auto ec = co_await a.stack->put("row/1", blob::copy_of("old"));
      REQUIRE_FALSE(ec);
    }
    auto old = co_await b.stack->get("row/1");
    REQUIRE(old.is_hit());
    REQUIRE(b.memory->try_get("row/1"));
    {
      const auto ec = co_await a.stack->put("row/1", blob::copy_of("new"));
      REQUIRE_FALSE(ec);
    }
    // No waiting: a's put completed after b applied it, so b's next read is fresh.
    auto fresh = co_await b.stack->get("row/1");
    REQUIRE(fresh.is_hit());
    CHECK(fresh.value().view() == "new");
    // a skipped its own messages: its memory copy of its own write stays.
    CHECK(a.memory->try_get("row/1"));
    CHECK(a.bus->report().own_skipped >= 1);
    CHECK(a.redis->report().ack_timeouts == 0);
    CHECK(b.bus->report().acks_sent >= 20);
  });
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const double median = latencies_ms[latencies_ms.size() / 2];
  WARN("confirmed invalidate_prefix (the other node applied it) took "
       << median << " ms (median of " << latencies_ms.size() << ", max " << latencies_ms.back()
       << ")");
  CHECK(median < 10.0);
}

TEST_CASE("invalidation_bus: a lost connection drops local entries; it resubscribes",
          "[redis][integration]") {
  auto& server = testing::redis_server::shared();
  testing::io_runner runner;
  const auto ns = fresh_namespace();
  node b(runner.context().get_executor(), server.port(), ns, "node-b");
  runner.run([&]() -> asio::awaitable<void> {
    stop_on_exit stop{{b.bus.get()}};
    const bool ready = co_await b.bus->wait_subscribed(5s);
    REQUIRE(ready);
    const auto drops_before = b.bus->report().drops;
    REQUIRE_FALSE(b.memory->put_now("local/1", blob::copy_of("x"), 0ms));
    REQUIRE_FALSE(b.memory->put_now("local/2", blob::copy_of("y"), 0ms));
    server.kill();
    (void)co_await until([&] { return b.memory->metrics().entries == 0; }, 2s);
    CHECK(b.memory->metrics().entries == 0);
    CHECK_FALSE(b.bus->report().subscribed);
    CHECK(b.bus->report().drops > drops_before);
    CHECK(b.bus->report().disconnects == 1);
    // Filled while the bus is down: may be stale by the time it is back.
    REQUIRE_FALSE(b.memory->put_now("local/3", blob::copy_of("z"), 0ms));
    REQUIRE(server.start());
    const bool again = co_await b.bus->wait_subscribed(5s);
    CHECK(again);
    CHECK_FALSE(b.memory->try_get("local/3"));
    CHECK(b.bus->report().connects >= 2);
  });
}

TEST_CASE("invalidation_bus: two processes share Redis; an invalidation on one reaches the other",
          "[redis][integration]") {
  auto& server = testing::redis_server::shared();
  const auto ns = fresh_namespace();
  testing::node_process other(server.port(), ns, "node-b");
  REQUIRE(other.ask("ready") == "ok");

  background_io bg;
  auto& io = bg.io;
  auto a = std::make_unique<node>(io.get_executor(), server.port(), ns, "node-a");
  // Runs one coroutine on the node's io thread and waits for its result.
  auto block_on = [&](auto make) {
    std::promise<typename decltype(make())::value_type> done;
    auto future = done.get_future();
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { done.set_value(co_await make()); }, asio::detached);
    return future.get();
  };
  (void)block_on([&] { return a->bus->wait_subscribed(5s); });

  std::vector<double> latencies_ms;
  for (int round = 0; round < 10; ++round) {
    const std::string key = "dash/" + std::to_string(round) + "/page/0";
    const std::string value = "v" + std::to_string(round);
    auto put = block_on([&] { return a->stack->put(key, blob::copy_of(value)); });
    REQUIRE_FALSE(put);
    REQUIRE(other.ask("get " + key) == "hit " + value);
    REQUIRE(other.ask("peek " + key) == "hit " + value);  // promoted into its memory
    const auto t0 = steady_ns();
    const std::string group = "dash/" + std::to_string(round) + "/";
    auto removed = block_on([&] { return a->stack->invalidate_prefix(group); });
    REQUIRE(removed.has_value());
    // Confirmed: the other process applied it before invalidate_prefix completed here.
    CHECK(other.ask("peek " + key) == "miss");
    const std::int64_t applied = std::stoll(other.ask("applied"));
    CHECK(applied >= t0);
    latencies_ms.push_back(static_cast<double>(applied - t0) / 1e6);
    CHECK(other.ask("get " + key) == "miss");
  }
  // The other node writes; once its write completes, this node's next read is fresh.
  auto first = block_on([&] { return a->stack->put("row/9", blob::copy_of("old")); });
  REQUIRE_FALSE(first);
  auto cached = block_on([&] { return a->stack->get("row/9"); });
  REQUIRE(cached.is_hit());
  REQUIRE(other.ask("put row/9 new") == "ok");
  auto fresh = block_on([&] { return a->stack->get("row/9"); });
  REQUIRE(fresh.is_hit());
  CHECK(fresh.value().view() == "new");
  CHECK(a->redis->report().ack_timeouts == 0);

  a->bus->stop();
  a.reset();
  bg.finish();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const double median = latencies_ms[latencies_ms.size() / 2];
  WARN("two processes: invalidate_prefix start to the other node's removal "
       << median << " ms (median of " << latencies_ms.size() << ", max " << latencies_ms.back()
       << ")");
  CHECK(median < 10.0);
}

TEST_CASE("invalidation_bus: a live_table on two processes reads the other's writes at once",
          "[redis][integration]") {
  auto& server = testing::redis_server::shared();
  const auto ns = fresh_namespace();
  const std::string db = temp_base() + "/larder-lt-" + ns + ".db";
  auto master = std::make_shared<testing::sqlite_master>(db);
  master->seed(20);

  testing::node_process other(server.port(), ns, "node-b");
  REQUIRE(other.ask("ready") == "ok");
  REQUIRE(other.ask("table " + db) == "ok");

  background_io bg;
  auto& io = bg.io;
  auto a = std::make_unique<node>(io.get_executor(), server.port(), ns, "node-a");
  auto block_on = [&](auto make) {
    std::promise<typename decltype(make())::value_type> done;
    auto future = done.get_future();
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { done.set_value(co_await make()); }, asio::detached);
    return future.get();
  };
  (void)block_on([&] { return a->bus->wait_subscribed(5s); });
  live_table_options options;
  options.cache_key = "quotes";
  options.page_size = 10;
  const any_store shared(a->stack, "stack");
  auto opened = block_on([&] {
    return live_table<testing::sqlite_master>::open(io.get_executor(), shared, master, options);
  });
  REQUIRE(opened.has_value());
  auto table = std::move(*opened);
  auto page_text = [&] {
    auto rows = block_on([&] { return table->page(0); });
    std::string out;
    if (rows)
      for (const auto& r : rows->rows)
        out += r.id + "=" + std::to_string(r.record.value("v", -1)) + ",";
    return out;
  };

  for (int round = 1; round <= 5; ++round) {
    // Both nodes hold page 0 in their memory tiers.
    const auto before = page_text();
    REQUIRE(other.ask("page 0") == before);
    REQUIRE(before == page_text());
    // A write through this node's table: when it completes, the other's next read is fresh.
    const nlohmann::json row{{"v", round * 10}};
    auto wrote = block_on([&] { return table->replace("r0003", row); });
    REQUIRE(wrote.has_value());
    const auto mine = page_text();
    CHECK(mine.find("r0003=" + std::to_string(round * 10) + ",") != std::string::npos);
    CHECK(other.ask("page 0") == mine);
    // And the other way round.
    REQUIRE(other.ask("write r0004 " + std::to_string(round * 100)) == "ok");
    const auto theirs = page_text();
    CHECK(theirs.find("r0004=" + std::to_string(round * 100) + ",") != std::string::npos);
  }
  CHECK(a->redis->report().ack_timeouts == 0);
  CHECK(table->metrics().page_hits > 0);  // pages were served from the cache in between

  (void)block_on([&] { return table->shutdown(); });
  table.reset();
  a->bus->stop();
  a.reset();
  bg.finish();
  master.reset();
  std::filesystem::remove(db);
  std::filesystem::remove(db + "-wal");
  std::filesystem::remove(db + "-shm");
}
