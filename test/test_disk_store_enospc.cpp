// disk_store on a full file system: a small tmpfs this test mounts (needs CAP_SYS_ADMIN;
// without it the test exits 77 and meson reports SKIP).
#include <sys/mount.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "larder/disk_store.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;
namespace fs = std::filesystem;

namespace {

class tmpfs_mount {
 public:
  explicit tmpfs_mount(const std::string& where) : where_(where) {
    if (::mount("larder-test", where.c_str(), "tmpfs", 0, "size=1m") != 0) {
      std::perror("mount tmpfs (skipping)");
      std::_Exit(77);  // meson's SKIP
    }
  }
  ~tmpfs_mount() { ::umount(where_.c_str()); }
  tmpfs_mount(const tmpfs_mount&) = delete;
  tmpfs_mount& operator=(const tmpfs_mount&) = delete;

 private:
  std::string where_;
};

std::size_t count_files(const std::string& root) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && !e.path().filename().string().starts_with("larder.")) ++n;
  return n;
}

}  // namespace

TEST_CASE("disk_store: ENOSPC is errc::no_space, cleans up, and reads go on") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  testing::temp_dir dir;
  tmpfs_mount mounted(dir.path());
  std::unique_ptr<disk_store> store;
  {
    testing::io_runner runner;
    auto engine = testing::make_engine(runner.context(), backend);
    auto opened = testing::open_now(runner.context(), engine, {.root = dir.path() + "/cache"});
    REQUIRE(opened.has_value());
    store = std::move(*opened);
    auto& s = *store;
    runner.run([&]() -> asio::awaitable<void> {
      {
        const auto ec = co_await s.put("small", blob::copy_of(std::string(100, 's')));
        CHECK_FALSE(ec);
      }
      {
        const auto ec = co_await s.put("big", blob(std::string(2 << 20, 'b')));
        CHECK(ec == errc::no_space);
      }
      // The old entry of a key survives a failed overwrite.
      {
        const auto ec = co_await s.put("small", blob(std::string(3 << 20, 'x')));
        CHECK(ec == errc::no_space);
      }
      auto got = co_await s.get("small");
      REQUIRE(got.is_hit());
      CHECK(got.value().view() == std::string(100, 's'));
      auto big = co_await s.get("big");
      CHECK(big.is_miss());
      // The failed temp files were removed, so there is room again.
      {
        const auto ec = co_await s.put("after", blob::copy_of(std::string(200 << 10, 'a')));
        CHECK_FALSE(ec);
      }
      {
        const auto ec = co_await s.flush();
        CHECK_FALSE(ec);
      }
    });
    const auto m = s.disk_metrics();
    CHECK(m.store.puts == 2);
    CHECK(m.store.rejected_puts == 2);
    CHECK(m.store.errors == 2);
    CHECK(m.io_errors == 2);
    CHECK(m.store.entries == 2);
    CHECK(count_files(dir.path()) == 2);  // no temp file left behind
    store.reset();
    engine.reset();
  }
}
