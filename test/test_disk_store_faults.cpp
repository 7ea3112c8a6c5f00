// disk_store against damaged or hostile files: every one is a miss, counted and removed.
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "larder/disk_store.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;
namespace fs = std::filesystem;

namespace {

using uring_fixture = testing::disk_fixture<io_backend::io_uring>;
using pool_fixture = testing::disk_fixture<io_backend::thread_pool>;

blob text(std::string_view s) {
  return blob::copy_of(s);
}

// Puts `key` -> `value` and returns the entry's path.
template <class Fixture>
std::string put_now(testing::io_runner& runner, Fixture& fixture, std::string key,
                    std::string value) {
  runner.run([&]() -> asio::awaitable<void> {
    const auto ec = co_await fixture.store().put(key, text(value));
    REQUIRE_FALSE(ec);
  });
  return fixture.store().path_for(key);
}

template <class Fixture>
lookup get_now(testing::io_runner& runner, Fixture& fixture, std::string key) {
  lookup out;
  runner.run([&]() -> asio::awaitable<void> { out = co_await fixture.store().get(key); });
  return out;
}

// The damaged entry under "k" is a miss, counted once, and its file is gone.
template <class Fixture>
void expect_discarded(testing::io_runner& runner, Fixture& fixture, const std::string& path) {
  const auto entries = fixture.store().metrics().entries;
  const auto got = get_now(runner, fixture, "k");
  CHECK(got.is_miss());
  CHECK(fixture.store().disk_metrics().corrupt_entries == 1);
  CHECK(fixture.store().metrics().entries == entries - 1);
  struct stat st;
  CHECK(::lstat(path.c_str(), &st) != 0);
  // Gone from the index too: the next get misses without touching the disk.
  const auto again = get_now(runner, fixture, "k");
  CHECK(again.is_miss());
  CHECK(fixture.store().disk_metrics().corrupt_entries == 1);
}

}  // namespace

TEMPLATE_TEST_CASE("disk_store: a flipped payload bit is a miss", "[disk][faults]", uring_fixture,
                   pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "some payload bytes");
  auto bytes = testing::read_file(path);
  bytes[24 + 1 + 3] ^= 0x04;
  testing::write_file(path, bytes);
  expect_discarded(runner, fixture, path);
}

TEMPLATE_TEST_CASE("disk_store: a flipped footer or header bit is a miss", "[disk][faults]",
                   uring_fixture, pool_fixture) {
  const std::size_t at = GENERATE(0, 5, 9, 17, 43);  // magic, version, key length, size, footer
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "some payload bytes");
  auto bytes = testing::read_file(path);
  REQUIRE(at < bytes.size());
  bytes[at] ^= 0x01;
  testing::write_file(path, bytes);
  expect_discarded(runner, fixture, path);
}

TEMPLATE_TEST_CASE("disk_store: a truncated or empty file is a miss", "[disk][faults]",
                   uring_fixture, pool_fixture) {
  const std::size_t keep = GENERATE(0, 10, 30, 60);
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", std::string(100, 'p'));
  fs::resize_file(path, keep);
  expect_discarded(runner, fixture, path);
}

TEMPLATE_TEST_CASE("disk_store: another key's file at the entry's path is a miss", "[disk][faults]",
                   uring_fixture, pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "mine");
  const auto other = put_now(runner, fixture, "other", "theirs");
  fs::copy_file(other, path, fs::copy_options::overwrite_existing);
  expect_discarded(runner, fixture, path);
  const auto theirs = get_now(runner, fixture, "other");
  REQUIRE(theirs.is_hit());
  CHECK(theirs.value().view() == "theirs");
}

TEMPLATE_TEST_CASE("disk_store: a symlink at the entry's path is never followed", "[disk][faults]",
                   uring_fixture, pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "mine");
  // A valid entry of the same key elsewhere: following the link would return its bytes.
  testing::temp_dir elsewhere;
  const auto target = elsewhere.path() + "/planted.bin";
  fs::copy_file(path, target);
  fs::remove(path);
  fs::create_symlink(target, path);
  expect_discarded(runner, fixture, path);
  CHECK(fs::exists(target));  // the link went, not what it pointed at
}

TEMPLATE_TEST_CASE("disk_store: a FIFO at the entry's path neither blocks nor is read",
                   "[disk][faults]", uring_fixture, pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "mine");
  fs::remove(path);
  REQUIRE(::mkfifo(path.c_str(), 0644) == 0);
  expect_discarded(runner, fixture, path);
}

TEMPLATE_TEST_CASE("disk_store: a directory at the entry's path is a miss", "[disk][faults]",
                   uring_fixture, pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "mine");
  fs::remove(path);
  fs::create_directory(path);
  const auto got = get_now(runner, fixture, "k");
  CHECK(got.is_miss());
  CHECK(fixture.store().disk_metrics().corrupt_entries == 1);
}

TEMPLATE_TEST_CASE("disk_store: open removes stale temp files and damaged entries",
                   "[disk][faults]", uring_fixture, pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto good = put_now(runner, fixture, "good", "kept");
  const auto bad = put_now(runner, fixture, "bad", "will be damaged");
  const auto foreign = put_now(runner, fixture, "foreign", "copied elsewhere");
  runner.run([&]() -> asio::awaitable<void> {
    const auto ec = co_await fixture.store().flush();
    CHECK_FALSE(ec);
  });
  const auto misplaced = fixture.store().path_for("ghost");
  fixture.close();

  // What a crash mid-put leaves, a damaged header, and a file under another key's name.
  const auto temp = good + ".tmp.999999999.7";
  testing::write_file(temp, "half a file");
  auto bytes = testing::read_file(bad);
  bytes[0] = 'X';
  testing::write_file(bad, bytes);
  fs::create_directories(fs::path(misplaced).parent_path());
  fs::copy_file(foreign, misplaced);
  const auto stranger = fs::path(foreign).parent_path() / "unrelated.txt";
  testing::write_file(stranger.string(), "not ours");

  fixture.reopen();
  const auto m = fixture.store().disk_metrics();
  CHECK(m.temp_files_removed == 1);
  CHECK(m.corrupt_entries == 2);
  CHECK(m.store.entries == 2);
  CHECK_FALSE(fs::exists(misplaced));
  CHECK_FALSE(fs::exists(temp));
  CHECK_FALSE(fs::exists(bad));
  CHECK(fs::exists(stranger));
  const auto got = get_now(runner, fixture, "good");
  REQUIRE(got.is_hit());
  CHECK(got.value().view() == "kept");
}

TEMPLATE_TEST_CASE("disk_store: a failed flush keeps its entries pending", "[disk][faults]",
                   uring_fixture, pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "mine");
  put_now(runner, fixture, "other", "theirs");
  // A symlink where the entry was: flush cannot sync the entry's data, and says so.
  testing::temp_dir elsewhere;
  const auto target = elsewhere.path() + "/planted.bin";
  fs::rename(path, target);
  fs::create_symlink(target, path);
  std::error_code failed;
  runner.run([&]() -> asio::awaitable<void> { failed = co_await fixture.store().flush(); });
  CHECK(failed);
  auto m = fixture.store().disk_metrics();
  CHECK(m.store.flush_errors == 1);
  CHECK(m.store.errors == 1);
  CHECK(fixture.store().durability().pending == 2);

  // The get discards the planted link (and its pending mark); the next flush succeeds.
  expect_discarded(runner, fixture, path);
  runner.run([&]() -> asio::awaitable<void> { failed = co_await fixture.store().flush(); });
  CHECK_FALSE(failed);
  CHECK(fixture.store().durability().pending == 0);
  CHECK(fixture.store().durability().durable == 1);
}

TEMPLATE_TEST_CASE("disk_store: a fan-out directory removed behind its back is made again",
                   "[disk][faults]", uring_fixture, pool_fixture) {
  testing::io_runner runner;
  TestType fixture(runner.context());
  const auto path = put_now(runner, fixture, "k", "one");
  fs::remove_all(fs::path(path).parent_path());
  put_now(runner, fixture, "k", "two");
  const auto got = get_now(runner, fixture, "k");
  REQUIRE(got.is_hit());
  CHECK(got.value().view() == "two");
}
