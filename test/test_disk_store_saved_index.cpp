// save_index() and the open that loads it: the index comes back without reading the
// entries (and in its order of use), directories changed since are scanned again, a torn or
// altered saved index is refused, and a store that shared its directory never saves.
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <string>

#include "larder/disk_store.hpp"
#include "support/disk_fixture.hpp"

using namespace larder;
using testing::pool;
using testing::session;
using testing::uring;
namespace fs = std::filesystem;

namespace {

constexpr int entry_count = 1500;

std::string key_of(int i) {
  return "k/" + std::to_string(i);
}
std::string value_of(int i) {
  return "value of " + std::to_string(i);
}

// Past the margin within which save_index does not vouch for a changed directory.
asio::awaitable<void> settle() {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(150));
  co_await t.async_wait(asio::use_awaitable);
}

// entry_count entries put, keys 0..9 then read (so the most recently used), settled, saved.
void fill_and_save(io_backend b, const std::string& root) {
  session s(b, {.root = root});
  bool ok = true;
  s.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < entry_count; ++i)
      if (co_await s.store->put(key_of(i), blob::copy_of(value_of(i)))) ok = false;
    for (int i = 0; i < 10; ++i)
      if (!(co_await s.store->get(key_of(i))).is_hit()) ok = false;
    co_await settle();
  });
  REQUIRE(ok);
  REQUIRE_FALSE(s.save());
  REQUIRE(fs::exists(root + "/larder.index"));
}

// Fan-out directories there are (those the saved index can stand for).
unsigned fan_out_dirs(const std::string& root) {
  unsigned n = 0;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory()) ++n;
  return n;
}

bool indexed(disk_store& s, const std::string& key) {
  for (const auto& e : s.entries())
    if (e.key == key) return true;
  return false;
}

}  // namespace

TEMPLATE_TEST_CASE("disk_store: a saved index is the next open's index, in its order of use",
                   "[disk][saved_index]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill_and_save(B, root);

  // Ten entries over the bound: the merge evicts the ten least recently used, which are the
  // first put after the ten read last (keys 10..19), not the oldest files (keys 0..9).
  session s(B, {.root = root, .max_entries = entry_count - 10});
  const auto m = s.store->disk_metrics();
  CHECK(m.index_complete);
  CHECK(m.index_loaded_entries == entry_count);
  CHECK(m.index_loaded_dirs == fan_out_dirs(root));  // every one
  CHECK_FALSE(m.index_snapshot_refused);
  // Only the saved index was read, not the entries (a few KiB of headers each would be more).
  CHECK(m.bytes_read < entry_count * 64);
  CHECK(m.store.entries == entry_count - 10);
  s.run([&]() -> asio::awaitable<void> {
    // co_await outside the assertions: GCC 12 cannot type it inside them.
    for (int i = 0; i < 20; ++i) {
      const auto got = co_await s.store->get(key_of(i));
      INFO(i);
      CHECK(got.is_hit() == (i < 10));
    }
    const auto got = co_await s.store->get(key_of(entry_count - 1));
    REQUIRE(got.is_hit());
    CHECK(got.value().view() == value_of(entry_count - 1));
  });
}

TEMPLATE_TEST_CASE("disk_store: directories changed after the save are scanned again",
                   "[disk][saved_index]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill_and_save(B, root);
  const auto dirs_at_save = fan_out_dirs(root);
  // Another run changes the directory and ends without saving, as a crash would.
  {
    session other(B, {.root = root});
    other.run([&]() -> asio::awaitable<void> {
      const auto erased = co_await other.store->erase(key_of(5));
      CHECK(erased.value_or(false));
      const auto one = co_await other.store->put("new/1", blob::copy_of("one"));
      const auto two = co_await other.store->put("new/2", blob::copy_of("two"));
      const auto flushed = co_await other.store->flush();
      CHECK_FALSE(one);
      CHECK_FALSE(two);
      CHECK_FALSE(flushed);
    });
  }
  session s(B, {.root = root});
  const auto m = s.store->disk_metrics();
  // Only the (at most three) directories changed were scanned.
  CHECK(m.index_loaded_dirs < dirs_at_save);
  CHECK(m.index_loaded_dirs + 3 >= dirs_at_save);
  CHECK(m.store.entries == entry_count + 1);
  CHECK_FALSE(indexed(*s.store, key_of(5)));
  CHECK(indexed(*s.store, "new/2"));
  s.run([&]() -> asio::awaitable<void> {
    // A complete index answers these, so they show what it holds.
    const auto erased = co_await s.store->get(key_of(5));
    const auto added = co_await s.store->get("new/1");
    CHECK(erased.is_miss());
    CHECK(added.is_hit());
    const auto gone = co_await s.store->invalidate_prefix("new/");
    REQUIRE(gone.has_value());
    CHECK(*gone == 2);
  });
}

TEMPLATE_TEST_CASE("disk_store: a torn or altered saved index is refused and the files scanned",
                   "[disk][saved_index]", uring, pool) {
  constexpr auto B = TestType::value;
  const auto how = GENERATE(as<std::string>{}, "torn", "flipped", "emptied", "a directory");
  INFO(how);
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill_and_save(B, root);
  const auto index = root + "/larder.index";
  auto bytes = testing::read_file(index);
  if (how == "torn") {
    bytes.resize(bytes.size() / 2);
  } else if (how == "flipped") {
    bytes[bytes.size() / 2] ^= 0x04;
  } else if (how == "emptied") {
    bytes.clear();
  }
  fs::remove(index);
  if (how == "a directory")
    fs::create_directory(index);
  else
    testing::write_file(index, bytes);

  session s(B, {.root = root});
  const auto m = s.store->disk_metrics();
  CHECK(m.index_snapshot_refused);
  CHECK(m.index_loaded_entries == 0);
  CHECK(m.index_loaded_dirs == 0);
  CHECK(m.store.entries == entry_count);
}

TEMPLATE_TEST_CASE("disk_store: a store that shared its directory does not save",
                   "[disk][saved_index]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  session a(B, {.root = root});
  a.run([&]() -> asio::awaitable<void> {
    const auto put = co_await a.store->put("a", blob::copy_of("1"));
    CHECK_FALSE(put);
  });
  {
    session b(B, {.root = root});
    CHECK(a.save() == errc::directory_shared);  // b is open
    CHECK(b.save() == errc::directory_shared);  // so is a
  }
  // b has gone, but came and went while a was open: a's index may lack what b did.
  CHECK(a.save() == errc::directory_shared);
  CHECK_FALSE(fs::exists(root + "/larder.index"));
  a.store.reset();
  // Alone from its open to its save: saved.
  session c(B, {.root = root});
  CHECK_FALSE(c.save());
  CHECK(fs::exists(root + "/larder.index"));
  // And again, after the count of openers started over.
  CHECK_FALSE(c.save());
  {
    session d(B, {.root = root});
    CHECK(c.save() == errc::directory_shared);
  }
}

TEMPLATE_TEST_CASE("disk_store: a store open before this one joined keeps it from saving",
                   "[disk][saved_index]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  auto first = std::make_unique<session>(B, disk_store_options{.root = root});
  session second(B, {.root = root});
  // The first writes and goes before the second saves: nothing in the lock file changed
  // after the second's byte, yet its index lacks this entry.
  first->run([&]() -> asio::awaitable<void> {
    const auto put = co_await first->store->put("late/1", blob::copy_of("v"));
    CHECK_FALSE(put);
  });
  first.reset();
  CHECK(second.save() == errc::directory_shared);
  CHECK_FALSE(fs::exists(root + "/larder.index"));
}

TEMPLATE_TEST_CASE("disk_store: a directory holding a file the index lacks is not vouched for",
                   "[disk][saved_index]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill_and_save(B, root);
  const auto dirs = fan_out_dirs(root);
  // A put in progress (this process is alive, so the scan leaves its temp file alone).
  const auto entry = [&] {
    session s(B, {.root = root});
    return s.store->path_for(key_of(0));
  }();
  testing::write_file(entry + ".tmp." + std::to_string(::getpid()) + ".1", "partial");
  {
    session s(B, {.root = root});
    s.run([&]() -> asio::awaitable<void> { co_await settle(); });
    REQUIRE_FALSE(s.save());
  }
  session s(B, {.root = root});
  const auto m = s.store->disk_metrics();
  CHECK(m.index_loaded_dirs == dirs - 1);  // that directory is scanned again
  CHECK(m.store.entries == entry_count);
}

TEMPLATE_TEST_CASE("disk_store: use_saved_index = false scans every directory",
                   "[disk][saved_index]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill_and_save(B, root);
  session s(B, {.root = root, .use_saved_index = false});
  const auto m = s.store->disk_metrics();
  CHECK(m.index_loaded_entries == 0);
  CHECK(m.store.entries == entry_count);
  CHECK(m.bytes_read >= entry_count * 24);  // every entry's header
}
