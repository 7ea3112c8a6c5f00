// redis_store over a real 3-master Redis Cluster started by the test (exit 77 without
// redis-server or redis-cli): the conformance cases, the namespace spread over the
// masters, a store seeded at any node, and a slot moved under readers with no failed
// or wrong read.
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <thread>
#include <tuple>

#include "larder/any_store.hpp"
#include "larder/invalidation_bus.hpp"
#include "larder/memory_store.hpp"
#include "larder/redis_store.hpp"
#include "support/redis_cluster.hpp"

namespace {

larder::testing::redis_cluster& shared_cluster() {
  static larder::testing::redis_cluster cluster(3);
  return cluster;
}

std::string fresh_namespace() {
  static std::atomic<int> next{0};
  return "c" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

larder::redis_store_options cluster_options(std::size_t seed = 0) {
  larder::redis_store_options o;
  o.port = shared_cluster().node(seed).port();
  o.cluster = true;
  o.name_space = fresh_namespace();
  o.timeout = std::chrono::milliseconds(3000);
  return o;
}

struct cluster_fixture {
  static constexpr bool retains = true;
  explicit cluster_fixture(asio::io_context& io) : store_(io.get_executor(), cluster_options()) {}
  larder::redis_store& store() { return store_; }
  larder::redis_store store_;
};

}  // namespace

using conformance_fixtures = std::tuple<cluster_fixture>;
#include "support/conformance.hpp"

using namespace larder;
using namespace std::chrono_literals;

TEST_CASE("redis_store cluster: a namespace spreads over every master, from any seed",
          "[redis][cluster]") {
  auto& cluster = shared_cluster();
  for (std::size_t seed = 0; seed < cluster.size(); ++seed) {
    testing::io_runner runner;
    auto options = cluster_options(seed);
    redis_store s(runner.context().get_executor(), options);
    runner.run([&]() -> asio::awaitable<void> {
      for (int i = 0; i < 200; ++i) {
        const auto ec =
            co_await s.put("p/" + std::to_string(i), testing::bytes_of("v" + std::to_string(i)));
        REQUIRE_FALSE(ec);
        const auto ec2 = co_await s.put("q/" + std::to_string(i), testing::bytes_of("w"));
        REQUIRE_FALSE(ec2);
      }
      for (int i = 0; i < 200; ++i) {
        auto got = co_await s.get("p/" + std::to_string(i));
        REQUIRE(got.is_hit());
        CHECK(got.value().view() == "v" + std::to_string(i));
      }
      auto erased = co_await s.erase("p/7");
      REQUIRE(erased);
      CHECK(*erased);
      auto removed = co_await s.invalidate_prefix("p/");
      REQUIRE(removed);
      CHECK(*removed == 199);
      for (int i = 0; i < 200; ++i) {
        auto gone = co_await s.get("p/" + std::to_string(i));
        CHECK(gone.is_miss());
        auto kept = co_await s.get("q/" + std::to_string(i));
        CHECK(kept.is_hit());
      }
    });
    const auto r = s.report();
    INFO(r.last_error);
    CHECK(r.cluster_nodes == cluster.size());  // every master took a part
    CHECK(r.remote_errors == 0);
    CHECK(r.map_refreshes >= 1);
    CHECK(s.metrics().entries == 200);
    CHECK(s.metrics().errors == 0);
  }
}

TEST_CASE("redis_store cluster: a slot moved during reads is followed, no read fails or is wrong",
          "[redis][cluster][reshard]") {
  auto& cluster = shared_cluster();
  testing::io_runner runner;
  auto options = cluster_options();
  options.cluster_shards = 4;  // so that one moved slot holds a quarter of the keys
  redis_store s(runner.context().get_executor(), options);
  constexpr int keys = 400;
  std::atomic<bool> moving{true};
  std::size_t moved_keys = 0;
  std::string move_error;
  std::uint64_t reads = 0, failed = 0, wrong = 0, write_failures = 0, invalidate_failures = 0;
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < keys; ++i) {
      const auto ec =
          co_await s.put("k/" + std::to_string(i), testing::bytes_of("v" + std::to_string(i)));
      REQUIRE_FALSE(ec);
    }
    // Groups that the loop below invalidates one per round while the slot moves.
    for (int g = 0; g < 10; ++g)
      for (int i = 0; i < 20; ++i) {
        const auto ec = co_await s.put("x/" + std::to_string(g) + "/" + std::to_string(i),
                                       testing::bytes_of("group"));
        REQUIRE_FALSE(ec);
      }
    // Move the slot of sub-namespace 0 to the next master, key by key, while reading.
    const std::string tag = options.name_space + ".0";
    const auto slot = static_cast<std::uint16_t>(cluster.integer(0, {"CLUSTER", "KEYSLOT", tag}));
    const std::size_t to = (cluster.owner(slot) + 1) % cluster.size();
    std::thread mover([&] {
      try {
        moved_keys = cluster.move_slot(slot, to, 3ms);
      } catch (const std::exception& e) {
        move_error = e.what();
      }
      moving = false;
    });
    int rounds_after = 0, group = 0;
    while (moving || rounds_after++ < 2) {
      if (group < 10) {
        const std::string prefix = "x/" + std::to_string(group++) + "/";
        auto gone = co_await s.invalidate_prefix(prefix);
        if (!gone || *gone != 20) ++invalidate_failures;
        for (int i = 0; i < 20; ++i) {
          auto after = co_await s.get(prefix + std::to_string(i));
          if (!after.is_miss()) ++wrong;
        }
      }
      for (int i = 0; i < keys; ++i) {
        const std::string key = "k/" + std::to_string(i);
        auto got = co_await s.get(key);
        ++reads;
        if (got.is_fault())
          ++failed;
        else if (!got.is_hit() || got.value().view() != "v" + std::to_string(i))
          ++wrong;
        // Rewrites of the same value keep writes in the slot while it moves.
        if (i % 8 == 0) {
          const auto ec = co_await s.put(key, testing::bytes_of("v" + std::to_string(i)));
          if (ec) ++write_failures;
        }
      }
    }
    mover.join();
    // Afterwards everything is where the map says and invalidation reaches all of it.
    for (; group < 10; ++group) {
      auto rest = co_await s.invalidate_prefix("x/" + std::to_string(group) + "/");
      REQUIRE(rest);
    }
    auto removed = co_await s.invalidate_prefix("k/");
    REQUIRE(removed);
    CHECK(*removed == keys);
  });
  const auto r = s.report();
  INFO("moved " << moved_keys << " keys; reads " << reads << "; write failures " << write_failures
                << "; last error: " << r.last_error);
  REQUIRE(move_error.empty());
  CHECK(moved_keys > 4);  // the index keys and about a quarter of the values
  CHECK(failed == 0);
  CHECK(wrong == 0);
  CHECK(write_failures == 0);
  CHECK(invalidate_failures == 0);
  CHECK(r.moved + r.asked >= 1);  // the store did get redirected
}

TEST_CASE("redis_store cluster: a confirmed erase completes after buses on other nodes applied it",
          "[redis][cluster][confirm]") {
  auto& cluster = shared_cluster();
  testing::io_runner runner;
  auto ex = runner.context().get_executor();
  auto writer_options = cluster_options(0);
  const std::string ns = writer_options.name_space;
  auto bus_on = [&](std::size_t n, std::string node) {
    invalidation_bus_options o;
    o.port = cluster.node(n).port();
    o.name_space = ns;
    o.node_id = std::move(node);
    return std::make_unique<invalidation_bus>(ex, o);
  };
  // The writer's bus on node 0; two readers' buses on nodes 1 and 2, each keeping a
  // memory store fresh.
  auto own = bus_on(0, "writer");
  auto bus_b = bus_on(1, "reader-b"), bus_c = bus_on(2, "reader-c");
  auto mem_b = std::make_shared<memory_store>(memory_store_options{.max_entries = 10'000});
  auto mem_c = std::make_shared<memory_store>(memory_store_options{.max_entries = 10'000});
  bus_b->attach(any_store(mem_b, "memory"));
  bus_c->attach(any_store(mem_c, "memory"));
  own->start();
  bus_b->start();
  bus_c->start();
  redis_store s(ex, writer_options);
  s.confirm_with(*own);
  int stale = 0, early = 0;
  constexpr int rounds = 40;
  runner.run([&]() -> asio::awaitable<void> {
    const bool ready_a = co_await own->wait_subscribed(5s);
    const bool ready_b = co_await bus_b->wait_subscribed(5s);
    const bool ready_c = co_await bus_c->wait_subscribed(5s);
    REQUIRE(ready_a);
    REQUIRE(ready_b);
    REQUIRE(ready_c);
    for (int i = 0; i < rounds; ++i) {
      const std::string key = "row/" + std::to_string(i);
      const auto ec = co_await s.put(key, testing::bytes_of("shared"));
      REQUIRE_FALSE(ec);
      const auto eb = co_await mem_b->put(key, testing::bytes_of("cached on b"));
      const auto ec2 = co_await mem_c->put(key, testing::bytes_of("cached on c"));
      REQUIRE_FALSE(eb);
      REQUIRE_FALSE(ec2);
      const auto applied = bus_b->report().applied + bus_c->report().applied;
      auto erased = co_await s.erase(key);
      REQUIRE(erased);
      // Confirmed: both readers applied it before erase completed.
      if (bus_b->report().applied + bus_c->report().applied < applied + 2) ++early;
      auto on_b = co_await mem_b->get(key);
      auto on_c = co_await mem_c->get(key);
      if (on_b.is_hit() || on_c.is_hit()) ++stale;
    }
    own->stop();
    bus_b->stop();
    bus_c->stop();
  });
  INFO(s.report().last_error);
  CHECK(early == 0);
  CHECK(stale == 0);
  CHECK(s.report().ack_timeouts == 0);
}
