// The layered store's fill races, each reproduced step by step: a lower tier whose puts
// are held until released and a 2-entry memory tier, on one thread, so that every
// interleaving below is the one written down and not one a scheduler happened to pick.
#include <array>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <functional>

#include "larder/layered_store.hpp"
#include "support/io_runner.hpp"
#include "support/test_stores.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {

blob text(std::string_view s) {
  return blob::copy_of(s);
}

std::shared_ptr<memory_store> two_entry_memory() {
  return std::make_shared<memory_store>(
      memory_store_options{.max_entries = 2, .max_bytes = 1 << 20, .shards = 1});
}

// Sleep in 1 ms steps until `done()` holds, at most two seconds; false if it never did.
asio::awaitable<bool> wait_until(std::function<bool()> done) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 2000; ++i) {
    if (done()) co_return true;
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return done();
}

// Push `key` out of the 2-entry memory tier by filling it with two other keys.
void evict_from(memory_store& memory, key_view key) {
  REQUIRE_FALSE(memory.put_now("filler/1", text("f1"), 0ms));
  REQUIRE_FALSE(memory.put_now("filler/2", text("f2"), 0ms));
  REQUIRE_FALSE(memory.try_get(key));
}

std::string value_of(const lookup& r) {
  return r.is_hit() ? std::string(r.value().view())
                    : std::string(r.is_miss() ? "<miss>" : "<fault>");
}

}  // namespace

TEST_CASE("layered race (a): a get during a put never promotes the old value over it") {
  testing::io_runner runner;
  auto memory = two_entry_memory();
  auto lower = std::make_shared<testing::held_store>();
  layered_store stack({any_store(memory, "memory"), any_store(lower, "lower")});
  REQUIRE_FALSE(lower->inner.put_now("k", text("v1"), 0ms));
  std::string during, after;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    // 1. put(v2) writes memory, then its lower-tier write is held.
    lower->hold = true;
    bool put_done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto ec = co_await stack.put("k", text("v2"));
          CHECK_FALSE(ec);
          put_done = true;
        },
        asio::detached);
    REQUIRE(co_await wait_until([&] { return lower->arrived() == 1; }));
    // 2. The memory copy of v2 is evicted before the put completes.
    evict_from(*memory, "k");
    // 3. A get misses memory and reads v1 from the lower tier (the put is still writing).
    auto r = co_await stack.get("k");
    during = value_of(r);
    // 4. The put completes.
    lower->release_all();
    REQUIRE(co_await wait_until([&] { return put_done; }));
    // 5. Every get from now on must see v2.
    auto r2 = co_await stack.get("k");
    after = value_of(r2);
  });
  CHECK(during == "v1");  // overlapping the put, either value is right
  CHECK(after == "v2");
  auto m = memory->try_get("k");
  CHECK((!m || m->view() == "v2"));
}

TEST_CASE("layered race (b): a withdrawn fill never erases a put that completed") {
  testing::io_runner runner;
  auto memory = two_entry_memory();
  auto lower = std::make_shared<testing::held_store>();
  layered_store stack({any_store(memory, "memory"), any_store(lower, "lower")});
  std::string after;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    lower->hold = true;
    // 1. put(v2) writes memory; its lower-tier write is held (held put #0).
    bool put_done = false, load_done = false, erase_done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto ec = co_await stack.put("k", text("v2"));
          CHECK_FALSE(ec);
          put_done = true;
        },
        asio::detached);
    REQUIRE(co_await wait_until([&] { return lower->arrived() == 1; }));
    // 2. The memory copy is evicted; a get_or_load misses both tiers and loads v1. Its
    //    install may start writing (held put #1) or stand down; either is fine here.
    evict_from(*memory, "k");
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await stack.get_or_load(
              "k", []() -> asio::awaitable<result<blob>> { co_return text("v1"); });
          CHECK(r);
          load_done = true;
        },
        asio::detached);
    REQUIRE(co_await wait_until([&] { return load_done || lower->arrived() == 2; }));
    // 3. The put's lower-tier write goes through: the put has completed.
    lower->release(0);
    REQUIRE(co_await wait_until([&] { return put_done; }));
    // 4. An unrelated key is erased while the install (if any) is still writing.
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await stack.erase("unrelated");
          CHECK(r);
          erase_done = true;
        },
        asio::detached);
    co_await wait_until([] { return false; });  // let the erase run as far as it will
    // 5. Everything held goes through.
    lower->release_all();
    REQUIRE(co_await wait_until([&] { return load_done && erase_done; }));
    auto r = co_await stack.get("k");
    after = value_of(r);
  });
  CHECK(after == "v2");
}

TEST_CASE("layered race (c): a get_or_load after invalidate_prefix never joins an older load") {
  testing::io_runner runner;
  auto memory = two_entry_memory();
  auto lower = std::make_shared<testing::held_store>();
  layered_store stack({any_store(memory, "memory"), any_store(lower, "lower")});
  testing::gate source;  // holds the first load
  std::string first, second;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    bool first_done = false, second_done = false;
    // 1. A load of k starts and is held at the source.
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await stack.get_or_load("page/k", [&]() -> asio::awaitable<result<blob>> {
            co_await source.pass();
            co_return text("before");
          });
          first = r ? std::string(r->view()) : "<error>";
          first_done = true;
        },
        asio::detached);
    REQUIRE(co_await wait_until([&] { return source.waiting() == 1; }));
    // 2. The source changes and the group is invalidated; the invalidation completes.
    auto removed = co_await stack.invalidate_prefix("page/");
    REQUIRE(removed);
    // 3. A get_or_load that starts now must see the source as it is now.
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await stack.get_or_load(
              "page/k", []() -> asio::awaitable<result<blob>> { co_return text("after"); });
          second = r ? std::string(r->view()) : "<error>";
          second_done = true;
        },
        asio::detached);
    co_await wait_until([&] { return second_done; });
    // 4. The first load returns its (now old) value.
    source.open();
    REQUIRE(co_await wait_until([&] { return first_done && second_done; }));
  });
  CHECK(first == "before");
  CHECK(second == "after");
  auto m = memory->try_get("page/k");
  CHECK((!m || m->view() == "after"));
}

TEST_CASE("memory race (c): a get_or_load after invalidate_prefix never joins an older load") {
  testing::io_runner runner;
  memory_store store;
  testing::gate source;
  std::string first, second;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    bool first_done = false, second_done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await store.get_or_load("page/k", [&]() -> asio::awaitable<result<blob>> {
            co_await source.pass();
            co_return text("before");
          });
          first = r ? std::string(r->view()) : "<error>";
          first_done = true;
        },
        asio::detached);
    REQUIRE(co_await wait_until([&] { return source.waiting() == 1; }));
    auto removed = co_await store.invalidate_prefix("page/");
    REQUIRE(removed);
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await store.get_or_load(
              "page/k", []() -> asio::awaitable<result<blob>> { co_return text("after"); });
          second = r ? std::string(r->view()) : "<error>";
          second_done = true;
        },
        asio::detached);
    co_await wait_until([&] { return second_done; });
    source.open();
    REQUIRE(co_await wait_until([&] { return first_done && second_done; }));
  });
  CHECK(first == "before");
  CHECK(second == "after");
  auto m = store.try_get("page/k");
  REQUIRE(m);
  CHECK(m->view() == "after");
}

TEST_CASE("layered race (d): a put that fails below is not served from memory") {
  testing::io_runner runner;
  auto memory = two_entry_memory();
  auto lower = std::make_shared<testing::held_store>();
  layered_store stack({any_store(memory, "memory"), any_store(lower, "lower")});
  REQUIRE_FALSE(lower->inner.put_now("k", text("v1"), 0ms));
  std::error_code put_ec;
  std::string after;
  runner.run([&]() -> asio::awaitable<void> {
    // 1. The lower tier is full: its puts fail with no_space.
    lower->put_error = make_error_code(errc::no_space);
    // 2. put(v2) writes memory, then fails below.
    put_ec = co_await stack.put("k", text("v2"));
    // 3. A get must not serve the value the put reported as not stored.
    auto r = co_await stack.get("k");
    after = value_of(r);
  });
  CHECK(put_ec == errc::no_space);
  CHECK(after != "v2");
  auto m = memory->try_get("k");
  CHECK((!m || m->view() != "v2"));
}

namespace {
// A memory tier whose gets and puts give up the thread once (after the read, before the
// write), so that on two threads fills and puts of one key really interleave.
class yielding_store {
 public:
  memory_store inner{memory_store_options{.max_entries = 100'000, .max_bytes = 1 << 26}};
  asio::awaitable<lookup> get(key_view key) {
    auto r = co_await inner.get(key);
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return r;
  }
  asio::awaitable<std::error_code> put(key_view key, blob value) {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    co_return co_await inner.put(key, std::move(value));
  }
  asio::awaitable<result<bool>> erase(key_view key) { return inner.erase(key); }
  asio::awaitable<std::error_code> flush() { return inner.flush(); }
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) {
    return inner.invalidate_prefix(prefix);
  }
  metrics_snapshot metrics() const { return inner.metrics(); }
};
}  // namespace

TEST_CASE(
    "layered races: 16 coroutines on 2 threads never read a value older than a completed put") {
  constexpr int coroutines = 16, keys = 24, rounds = 300;
  testing::io_runner runner(2);
  // About 24 KiB: a handful of the 24 keys fit, so gets keep missing memory and promoting.
  auto memory = std::make_shared<memory_store>(
      memory_store_options{.max_entries = 1000, .max_bytes = 24 << 10, .shards = 1});
  auto lower = std::make_shared<yielding_store>();
  layered_store stack({any_store(memory, "memory"), any_store(lower, "lower")});
  // completed[k]: the highest version of key k whose put has returned. Each key has one
  // writer (coroutine k % 16), so its versions are put in order.
  std::array<std::atomic<int>, keys> completed{};
  std::atomic<std::uint64_t> gets{0}, stale{0}, failed_puts{0};
  const std::string padding(2000, 'x');  // ~2 KiB values
  for (int c = 0; c < coroutines; ++c) {
    runner.spawn([&, c]() -> asio::awaitable<void> {
      int version = 0;
      for (int round = 0; round < rounds; ++round) {
        ++version;
        for (int k = c; k < keys; k += coroutines) {
          const std::string key = "k" + std::to_string(k);
          auto ec = co_await stack.put(key, blob::copy_of(std::to_string(version) + ":" + padding));
          if (ec) ++failed_puts;
          completed[k].store(version);
        }
        for (int j = 0; j < keys; ++j) {
          const int k = (c * 7 + round + j) % keys;
          const std::string key = "k" + std::to_string(k);
          const int floor = completed[k].load();
          auto r = co_await stack.get(key);
          ++gets;
          if (r.is_hit() && std::stoi(std::string(r.value().view())) < floor) ++stale;
        }
      }
    });
  }
  runner.run();
  INFO("gets " << gets.load() << ", promotions " << stack.promotions().events);
  CHECK(failed_puts == 0);
  CHECK(stack.promotions().events > 0);  // the run did exercise promotions
  CHECK(stale == 0);
}
