// disk_store's inspection members for tools: entries(), verify(), and the open options
// create_root and remove_invalid.
#include <filesystem>
#include <fstream>
#include <string>

#include "larder/disk_store.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;
namespace fs = std::filesystem;

namespace {

void flip_byte(const std::string& path, std::streamoff offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  char c = 0;
  f.seekg(offset);
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x01);
  f.seekp(offset);
  f.write(&c, 1);
  REQUIRE(f.good());
}

struct opened_store {
  explicit opened_store(testing::io_runner& runner, disk_store_options options) {
    auto engine = testing::make_engine(runner.context(), io_backend::automatic);
    auto r = testing::open_now(runner.context(), std::move(engine), std::move(options));
    error = r ? std::error_code{} : r.error();
    if (r) store = std::move(*r);
  }
  std::error_code error;
  std::unique_ptr<disk_store> store;
};

disk_store_options at(const std::string& root) {
  disk_store_options o;
  o.root = root;
  return o;
}

void put_all(testing::io_runner& runner, disk_store& store, std::vector<std::string> keys) {
  runner.run([&]() -> asio::awaitable<void> {
    for (const auto& k : keys) {
      auto value = blob::copy_of(std::string(200, 'v') + k);
      const auto ec = co_await store.put(k, std::move(value));
      REQUIRE_FALSE(ec);
    }
  });
}

}  // namespace

TEST_CASE("disk_store::entries lists the index least recently used first") {
  testing::temp_dir dir;
  testing::io_runner runner;
  opened_store s(runner, at(dir.path() + "/c"));
  REQUIRE(s.store);
  put_all(runner, *s.store, {"a", "b", "c"});
  runner.run([&]() -> asio::awaitable<void> {
    const auto got = co_await s.store->get("a");
    REQUIRE(got.is_hit());
  });
  const auto list = s.store->entries();
  REQUIRE(list.size() == 3);
  CHECK(list[0].key == "b");
  CHECK(list[1].key == "c");
  CHECK(list[2].key == "a");
  CHECK(list[2].size == fs::file_size(s.store->path_for("a")));
}

TEST_CASE("disk_store::verify reports a flipped bit, and removes it only when repairing") {
  testing::temp_dir dir;
  testing::io_runner runner;
  opened_store s(runner, at(dir.path() + "/c"));
  REQUIRE(s.store);
  put_all(runner, *s.store, {"k1", "k2", "k3"});
  const auto bad = s.store->path_for("k2");
  flip_byte(bad, 100);  // inside the payload: only the footer check can see it

  disk_verify_report report;
  runner.run([&]() -> asio::awaitable<void> { report = co_await s.store->verify(false); });
  CHECK(report.checked == 3);
  CHECK(report.ok == 2);
  CHECK(report.corrupt == 1);
  CHECK(report.removed == 0);
  CHECK(report.unreadable == 0);
  CHECK(fs::exists(bad));
  CHECK(s.store->metrics().entries == 3);

  runner.run([&]() -> asio::awaitable<void> { report = co_await s.store->verify(true); });
  CHECK(report.corrupt == 1);
  CHECK(report.removed == 1);
  CHECK_FALSE(fs::exists(bad));
  CHECK(s.store->metrics().entries == 2);
  CHECK(s.store->disk_metrics().corrupt_entries == 1);

  runner.run([&]() -> asio::awaitable<void> { report = co_await s.store->verify(false); });
  CHECK(report.ok == 2);
  CHECK(report.corrupt == 0);
}

TEST_CASE("disk_store open with create_root = false neither creates nor adopts") {
  testing::temp_dir dir;
  testing::io_runner runner;
  auto options = at(dir.path() + "/missing");
  options.create_root = false;
  opened_store missing(runner, options);
  CHECK(missing.error == std::errc::no_such_file_or_directory);
  CHECK_FALSE(fs::exists(dir.path() + "/missing"));

  std::ofstream(dir.path() + "/notes.txt") << "not a cache";
  options.root = dir.path();
  opened_store foreign(runner, options);
  CHECK(foreign.error == errc::not_a_cache_directory);
  CHECK(fs::exists(dir.path() + "/notes.txt"));

  options.root = dir.path() + "/notes.txt";
  opened_store file(runner, options);
  CHECK(file.error == errc::not_a_cache_directory);

  {
    opened_store made(runner, at(dir.path() + "/cache"));
    REQUIRE(made.store);
    put_all(runner, *made.store, {"x"});
  }
  options.root = dir.path() + "/cache";
  opened_store existing(runner, options);
  REQUIRE(existing.store);
  CHECK(existing.store->metrics().entries == 1);
}

TEST_CASE("disk_store open with remove_invalid = false leaves bad files in place") {
  testing::temp_dir dir;
  testing::io_runner runner;
  const auto root = dir.path() + "/c";
  std::string truncated, temp;
  {
    opened_store s(runner, at(root));
    REQUIRE(s.store);
    put_all(runner, *s.store, {"good", "short"});
    truncated = s.store->path_for("short");
    temp = s.store->path_for("good") + ".tmp.999999999.1";
  }
  fs::resize_file(truncated, 30);
  std::ofstream(temp) << "half a put";

  auto options = at(root);
  options.remove_invalid = false;
  {
    opened_store look(runner, options);
    REQUIRE(look.store);
    CHECK(look.store->metrics().entries == 1);
    CHECK(look.store->disk_metrics().corrupt_entries == 1);
    CHECK(look.store->disk_metrics().temp_files_removed == 0);
    CHECK(fs::exists(truncated));
    CHECK(fs::exists(temp));
  }
  opened_store normal(runner, at(root));
  REQUIRE(normal.store);
  CHECK(normal.store->disk_metrics().corrupt_entries == 1);
  CHECK(normal.store->disk_metrics().temp_files_removed == 1);
  CHECK_FALSE(fs::exists(truncated));
  CHECK_FALSE(fs::exists(temp));
}
