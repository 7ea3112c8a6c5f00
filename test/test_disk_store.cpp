#include "larder/disk_store.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <tuple>

#include "support/disk_fixture.hpp"

using uring_fixture = larder::testing::disk_fixture<larder::io_backend::io_uring>;
using pool_fixture = larder::testing::disk_fixture<larder::io_backend::thread_pool>;
using conformance_fixtures = std::tuple<uring_fixture, pool_fixture>;
#include "support/conformance.hpp"

using namespace larder;
using larder::testing::bytes_of;
namespace fs = std::filesystem;

namespace {

std::string key_of(int i) {
  return "key/" + std::to_string(i);
}

std::size_t count_files(const std::string& root, std::string_view suffix) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root))
    // The store's own lock file and saved index beside the fan-out directories are no entries.
    if (e.is_regular_file() && e.path().string().ends_with(suffix) &&
        !e.path().filename().string().starts_with("larder."))
      ++n;
  return n;
}

}  // namespace

TEMPLATE_TEST_CASE("disk_store: entries survive closing and reopening", "[disk]", uring_fixture,
                   pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 20; ++i) {
      const auto ec = co_await fixture.store().put(key_of(i), bytes_of("value " + key_of(i)));
      CHECK_FALSE(ec);
    }
    const auto ec = co_await fixture.store().flush();
    CHECK_FALSE(ec);
  });
  CHECK(fixture.store().durability().pending == 0);
  CHECK(fixture.store().durability().durable == 20);
  const auto bytes_before = fixture.store().metrics().bytes;

  fixture.reopen();
  CHECK(fixture.store().metrics().entries == 20);
  CHECK(fixture.store().metrics().bytes == bytes_before);
  CHECK(fixture.store().durability().durable == 20);
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 20; ++i) {
      auto got = co_await fixture.store().get(key_of(i));
      REQUIRE(got.is_hit());
      CHECK(got.value().view() == "value " + key_of(i));
    }
    // The index came back with the keys, so prefix invalidation still works.
    auto removed = co_await fixture.store().invalidate_prefix("key/1");
    REQUIRE(removed.has_value());
    CHECK(*removed == 11);  // key/1 and key/10..key/19
  });
  CHECK(fixture.store().metrics().entries == 9);
  CHECK(count_files(fixture.root(), ".bin") == 9);
}

TEMPLATE_TEST_CASE("disk_store: flush is the durability boundary", "[disk]", uring_fixture,
                   pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto ec = co_await s.put("a", bytes_of("1"));
      CHECK_FALSE(ec);
    }
    {
      const auto ec = co_await s.put("b", bytes_of("2"));
      CHECK_FALSE(ec);
    }
    CHECK(s.durability().pending == 2);
    CHECK(s.durability().durable == 0);
    {
      const auto ec = co_await s.flush();
      CHECK_FALSE(ec);
    }
    CHECK(s.durability().pending == 0);
    CHECK(s.durability().durable == 2);
    // Two files, their directories (one or two) and the root, whose fan-out dirs are new.
    const auto synced = s.disk_metrics().fsyncs;
    CHECK(synced >= 4);
    {
      const auto ec = co_await s.put("c", bytes_of("3"));
      CHECK_FALSE(ec);
    }
    CHECK(s.durability().pending == 1);
    // An erased entry has nothing left to make durable.
    auto erased = co_await s.erase("c");
    CHECK(erased.value_or(false));
    CHECK(s.durability().pending == 0);
    {
      const auto ec = co_await s.flush();
      CHECK_FALSE(ec);
    }
    // Nothing is pending now: a flush with nothing to do issues no syncs.
    const auto settled = s.disk_metrics().fsyncs;
    CHECK(settled >= synced);
    {
      const auto ec = co_await s.flush();
      CHECK_FALSE(ec);
    }
    CHECK(s.disk_metrics().fsyncs == settled);
  });
  const auto m = s.disk_metrics();
  CHECK(m.store.flushes == 3);
  CHECK(m.store.flush_errors == 0);
  CHECK(m.io_errors == 0);
  CHECK(m.bytes_written > 0);
  CHECK((m.backend == "io_uring" || m.backend == "thread_pool"));
}

TEMPLATE_TEST_CASE("disk_store: eviction keeps the bytes under the bound", "[disk]", uring_fixture,
                   pool_fixture) {
  testing::io_runner runner;
  // Each entry is 24 + 4 + 1000 + 32 = 1060 bytes: ten fit in 11000, eleven do not.
  TestType fixture(runner.context(), {.root = {}, .max_bytes = 11'000});
  auto& s = fixture.store();
  const std::string payload(1000, 'x');
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 10; ++i) {
      const auto ec = co_await s.put("k/0" + std::to_string(i), bytes_of(payload));
      CHECK_FALSE(ec);
    }
    // k/00 becomes the most recently used, so the next put evicts k/01 instead.
    auto touched = co_await s.get("k/00");
    CHECK(touched.is_hit());
    for (int i = 10; i < 40; ++i) {
      const auto ec = co_await s.put("n/" + std::to_string(i), bytes_of(payload));
      CHECK_FALSE(ec);
      CHECK(s.metrics().bytes <= 11'000);
      if (i == 10) {
        auto kept = co_await s.get("k/00");
        CHECK(kept.is_hit());
        auto evicted = co_await s.get("k/01");
        CHECK(evicted.is_miss());
      }
    }
  });
  const auto m = s.metrics();
  CHECK(m.bytes <= 11'000);
  CHECK(m.entries == 10);
  CHECK(m.evictions == 30);
  CHECK(m.evicted_bytes == 30 * 1060);
  CHECK(count_files(fixture.root(), ".bin") == 10);

  // The bound also holds after reopening with a smaller budget.
  fixture.options().max_bytes = 5'000;
  fixture.reopen();
  CHECK(fixture.store().metrics().entries == 4);
  CHECK(count_files(fixture.root(), ".bin") == 4);
}

TEMPLATE_TEST_CASE("disk_store: the entry bound evicts too", "[disk]", uring_fixture,
                   pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context(), {.root = {}, .max_entries = 3});
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 8; ++i) {
      const auto ec = co_await fixture.store().put(key_of(i), bytes_of("v"));
      CHECK_FALSE(ec);
    }
  });
  CHECK(fixture.store().metrics().entries == 3);
  CHECK(fixture.store().metrics().evictions == 5);
  CHECK(count_files(fixture.root(), ".bin") == 3);
}

TEMPLATE_TEST_CASE("disk_store: values over the size limit are refused", "[disk]", uring_fixture,
                   pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context(), {.root = {}, .max_value_size = 1000});
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto ec = co_await s.put("k", bytes_of(std::string(1000, 'a')));
      CHECK_FALSE(ec);
    }
    {
      const auto ec = co_await s.put("k", bytes_of(std::string(1001, 'b')));
      CHECK(ec == errc::value_too_large);
    }
    // The refused put left the old value in place.
    auto got = co_await s.get("k");
    REQUIRE(got.is_hit());
    CHECK(got.value().view() == std::string(1000, 'a'));
    {
      const auto ec = co_await s.put(std::string(70'000, 'k'), bytes_of("v"));
      CHECK(ec == errc::invalid_argument);
    }
  });
  const auto m = s.metrics();
  CHECK(m.puts == 1);
  CHECK(m.rejected_puts == 2);
  CHECK(count_files(fixture.root(), ".bin") == 1);
  CHECK(count_files(fixture.root(), "") == 1);  // no temp file left behind
}

TEMPLATE_TEST_CASE("disk_store: a hit is a slice of the file buffer", "[disk]", uring_fixture,
                   pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  runner.run([&]() -> asio::awaitable<void> {
    const auto ec = co_await fixture.store().put("k", bytes_of("payload"));
    CHECK_FALSE(ec);
    auto got = co_await fixture.store().get("k");
    REQUIRE(got.is_hit());
    CHECK(got.value().view() == "payload");
    // The payload sits behind the header and key inside the one buffer the read filled.
    CHECK(got.value().use_count() == 1);
  });
  const auto m = fixture.store().disk_metrics();
  CHECK(m.bytes_read == 24 + 1 + 7 + 32);
  CHECK(m.bytes_written == 24 + 1 + 7 + 32);
}

TEST_CASE("disk_store: the default root follows XDG_CACHE_HOME, then HOME") {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string saved_xdg = xdg ? xdg : "", saved_home = home ? home : "";

  ::setenv("XDG_CACHE_HOME", "/var/cache/me", 1);
  auto root = disk_store::default_root();
  REQUIRE(root.has_value());
  CHECK(*root == "/var/cache/me/larder");

  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", "/home/me", 1);
  root = disk_store::default_root();
  REQUIRE(root.has_value());
  CHECK(*root == "/home/me/.cache/larder");

  ::unsetenv("HOME");
  root = disk_store::default_root();
  CHECK(root.error() == errc::no_cache_directory);

  if (xdg) ::setenv("XDG_CACHE_HOME", saved_xdg.c_str(), 1);
  if (home) ::setenv("HOME", saved_home.c_str(), 1);
}

TEST_CASE("disk_store: a zero byte budget disables the store") {
  testing::io_runner runner;
  pool_fixture fixture(runner.context(), {.root = {}, .max_bytes = 0});
  runner.run([&]() -> asio::awaitable<void> {
    const auto ec = co_await fixture.store().put("k", bytes_of("v"));
    CHECK(ec == errc::store_disabled);
    auto got = co_await fixture.store().get("k");
    CHECK(got.is_miss());
  });
}

TEST_CASE("disk_store: a flush after many puts syncs them all in batches") {
  testing::io_runner runner;
  uring_fixture fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 300; ++i) {
      const auto ec = co_await s.put(key_of(i), bytes_of("v"));
      CHECK_FALSE(ec);
    }
    const auto ec = co_await s.flush();
    CHECK_FALSE(ec);
  });
  CHECK(s.durability().pending == 0);
  CHECK(s.durability().durable == 300);
  // Every file, then every fan-out directory that received one, then the root.
  CHECK(s.disk_metrics().fsyncs >= 300 + 100 + 1);  // 300 keys fill ~175 of 256 dirs
}
