#include "larder/memory_store.hpp"

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <set>
#include <tuple>

namespace {
template <larder::eviction_policy Policy, bool Eager = false>
struct memory_fixture {
  static constexpr bool retains = true;
  explicit memory_fixture(asio::io_context&)
      : store_(larder::memory_store_options{.max_entries = 10'000,
                                            .max_bytes = 512ull << 20,
                                            .shards = 4,
                                            .policy = Policy,
                                            .eager_prefix_index = Eager}) {}
  larder::memory_store& store() { return store_; }
  larder::memory_store store_;
};
using s3fifo_fixture = memory_fixture<larder::eviction_policy::s3_fifo>;
using lru_fixture = memory_fixture<larder::eviction_policy::lru, true>;
}  // namespace

using conformance_fixtures = std::tuple<s3fifo_fixture, lru_fixture>;
#include "support/conformance.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {
blob text(std::string_view s) {
  return blob::copy_of(s);
}
std::string key_of(int i) {
  return "key/" + std::to_string(i);
}
}  // namespace

TEST_CASE("memory_store: the entry budget holds and LRU evicts the least recent") {
  memory_store s(
      {.max_entries = 4, .max_bytes = 1 << 20, .shards = 1, .policy = eviction_policy::lru});
  for (int i = 0; i < 4; ++i)
    REQUIRE_FALSE(s.put_now(key_of(i), text("v"), 0ms));
  REQUIRE(s.try_get(key_of(0)));  // 0 becomes the most recent; 1 is now the oldest
  REQUIRE_FALSE(s.put_now(key_of(4), text("v"), 0ms));
  CHECK(s.metrics().entries == 4);
  CHECK_FALSE(s.try_get(key_of(1)));
  CHECK(s.try_get(key_of(0)));
  CHECK(s.metrics().evictions == 1);
}

TEST_CASE("memory_store: S3-FIFO keeps a re-used key through a scan of one-hit keys") {
  memory_store s(
      {.max_entries = 100, .max_bytes = 1 << 20, .shards = 1, .policy = eviction_policy::s3_fifo});
  REQUIRE_FALSE(s.put_now("hot", text("h"), 0ms));
  REQUIRE(s.try_get("hot"));  // one hit in the small queue earns promotion
  for (int i = 0; i < 1000; ++i) {
    REQUIRE_FALSE(s.put_now(key_of(i), text("scan"), 0ms));
    if (i % 50 == 0) (void)s.try_get("hot");
  }
  CHECK(s.try_get("hot"));
  CHECK(s.metrics().entries <= 100);
  // The same scan under LRU pushes out a key that is not touched during it.
  memory_store lru(
      {.max_entries = 100, .max_bytes = 1 << 20, .shards = 1, .policy = eviction_policy::lru});
  REQUIRE_FALSE(lru.put_now("hot", text("h"), 0ms));
  REQUIRE(lru.try_get("hot"));
  for (int i = 0; i < 1000; ++i)
    REQUIRE_FALSE(lru.put_now(key_of(i), text("scan"), 0ms));
  CHECK_FALSE(lru.try_get("hot"));
}

TEST_CASE("memory_store: S3-FIFO admits a key seen again soon after eviction to main") {
  memory_store s({.max_entries = 20, .max_bytes = 1 << 20, .shards = 1});
  for (int i = 0; i < 40; ++i)
    REQUIRE_FALSE(s.put_now(key_of(i), text("v"), 0ms));
  // key 0 was evicted from the small queue into the ghost; re-inserting it goes to main
  // and therefore outlives a following burst of new keys that pass through small.
  REQUIRE_FALSE(s.try_get(key_of(0)));
  REQUIRE_FALSE(s.put_now(key_of(0), text("again"), 0ms));
  for (int i = 100; i < 110; ++i)
    REQUIRE_FALSE(s.put_now(key_of(i), text("v"), 0ms));
  CHECK(s.try_get(key_of(0)));
}

TEST_CASE("memory_store: the byte budget holds, with the reason reported") {
  memory_store s({.max_entries = 1000, .max_bytes = 10 * 1024, .shards = 1});
  std::vector<std::tuple<std::string, std::uint64_t, eviction_reason>> heard;
  s.set_eviction_listener([&](std::string_view k, std::uint64_t bytes, eviction_reason why) {
    heard.emplace_back(std::string(k), bytes, why);
  });
  for (int i = 0; i < 40; ++i)
    REQUIRE_FALSE(s.put_now(key_of(i), blob(std::string(900, 'x')), 0ms));
  const auto m = s.metrics();
  CHECK(m.bytes <= 10 * 1024);
  CHECK(m.evictions > 0);
  CHECK(m.evictions == heard.size());
  for (const auto& [k, bytes, why] : heard) {
    CHECK(why == eviction_reason::byte_limit);
    CHECK(bytes == k.size() + 900 + memory_store::entry_overhead);
  }
  const auto reports = s.eviction_reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].reason == eviction_reason::byte_limit);
  CHECK(reports[0].entries >= 1);
  CHECK(reports[0].bytes >= 900);
  CHECK(std::string(to_string(reports[0].reason)) == "byte limit");
}

TEST_CASE("memory_store: a value heavier than a shard is rejected and removes the old one") {
  memory_store s({.max_entries = 100, .max_bytes = 4096, .shards = 1});
  std::vector<eviction_reason> heard;
  s.set_eviction_listener(
      [&](std::string_view, std::uint64_t, eviction_reason why) { heard.push_back(why); });
  REQUIRE_FALSE(s.put_now("k", text("small"), 0ms));
  const auto ec = s.put_now("k", blob(std::string(5000, 'x')), 0ms);
  CHECK(ec == errc::value_too_large);
  CHECK_FALSE(s.try_get("k"));
  REQUIRE(heard.size() == 1);
  CHECK(heard[0] == eviction_reason::rejected_put);
  const auto m = s.metrics();
  CHECK(m.rejected_puts == 1);
  CHECK(m.entries == 0);
  CHECK(m.bytes == 0);
  REQUIRE(s.eviction_reports().size() == 1);
  CHECK(s.eviction_reports()[0].reason == eviction_reason::rejected_put);
}

TEST_CASE("memory_store: a zero budget is a disabled store") {
  for (auto options :
       {memory_store_options{.max_entries = 0}, memory_store_options{.max_bytes = 0}}) {
    memory_store s(options);
    CHECK(s.put_now("k", text("v"), 0ms) == errc::store_disabled);
    CHECK_FALSE(s.try_get("k"));
    CHECK(s.metrics().rejected_puts == 1);
    CHECK(s.metrics().entries == 0);
  }
}

TEST_CASE("memory_store: keys longer than the limit are refused") {
  memory_store s;
  CHECK(s.put_now(std::string(memory_store::max_key_size + 1, 'k'), text("v"), 0ms) ==
        errc::invalid_argument);
  CHECK_FALSE(s.put_now(std::string(memory_store::max_key_size, 'k'), text("v"), 0ms));
}

TEST_CASE("memory_store: shards are chosen by hash, not by a key byte") {
  // 64 shards of 4 entries each: keys that share their first bytes must still spread.
  memory_store s({.max_entries = 256, .max_bytes = 1 << 20, .shards = 64});
  CHECK(s.shard_count() == 64);
  for (int i = 0; i < 128; ++i)
    REQUIRE_FALSE(s.put_now("same-prefix/" + std::to_string(i), text("v"), 0ms));
  CHECK(s.metrics().entries > 100);
}

TEST_CASE("memory_store: hits share the stored bytes instead of copying them") {
  memory_store s;
  REQUIRE_FALSE(s.put_now("small", text("inline value"), 0ms));
  auto a = s.try_get("small");
  auto b = s.try_get("small");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->data() == b->data());
  CHECK(a->shares_storage_with(*b));

  blob big(std::string(100'000, 'b'));
  REQUIRE_FALSE(s.put_now("big", big, 0ms));
  auto c = s.try_get("big");
  REQUIRE(c);
  CHECK(c->data() == big.data());  // a large value is kept by reference, never copied

  // A blob handed out stays valid after its entry is gone.
  REQUIRE(s.invalidate_prefix_now("") == 2);
  CHECK(a->view() == "inline value");
  CHECK(c->size() == 100'000);
}

TEST_CASE("memory_store: an expired entry is a miss and is reclaimed without a lookup") {
  testing::io_runner runner;
  memory_store s({.max_entries = 1000,
                  .max_bytes = 1 << 20,
                  .shards = 1,
                  .sweep_executor = runner.context().get_executor(),
                  .sweep_interval = 20ms});
  std::vector<std::pair<std::string, eviction_reason>> heard;
  s.set_eviction_listener([&](std::string_view k, std::uint64_t, eviction_reason why) {
    heard.emplace_back(std::string(k), why);
  });
  REQUIRE_FALSE(s.put_now("short", text("v"), 30ms));
  REQUIRE_FALSE(s.put_now("forever", text("v"), 0ms));
  CHECK(s.try_get("short"));
  // run() returns once the sweeper has nothing left to watch: it never pins the context.
  runner.run();
  CHECK(s.metrics().entries == 1);
  REQUIRE(heard.size() == 1);
  CHECK(heard[0].first == "short");
  CHECK(heard[0].second == eviction_reason::expired);
  CHECK_FALSE(s.try_get("short"));
  CHECK(s.try_get("forever"));
}

TEST_CASE("memory_store: expiry is enforced on reads even before reclamation") {
  memory_store s({.default_ttl = 1ms});
  REQUIRE_FALSE(s.put_now("k", text("v"), 1ms));
  std::this_thread::sleep_for(5ms);
  CHECK_FALSE(s.try_get("k"));
  CHECK(s.reclaim_expired() == 1);
  CHECK(s.metrics().entries == 0);
}

TEST_CASE("memory_store: the prefix index stays exact after it is built lazily") {
  memory_store s({.max_entries = 10'000, .max_bytes = 1 << 24, .shards = 4});
  for (int i = 0; i < 100; ++i) {
    REQUIRE_FALSE(s.put_now("a/" + std::to_string(i), text("v"), 0ms));
    REQUIRE_FALSE(s.put_now("b/" + std::to_string(i), text("v"), 0ms));
  }
  CHECK(s.invalidate_prefix_now("a/1") == 11);  // builds the index: a/1, a/10..a/19
  for (int i = 0; i < 50; ++i) {
    REQUIRE_FALSE(s.put_now("b/" + std::to_string(i), text("replaced"), 0ms));  // in place
    REQUIRE_FALSE(s.put_now("c/" + std::to_string(i), text("new"), 0ms));
  }
  CHECK(s.invalidate_prefix_now("b/") == 100);
  CHECK(s.invalidate_prefix_now("c/") == 50);
  CHECK(s.invalidate_prefix_now("a/") == 89);
  CHECK(s.metrics().entries == 0);
}
