// io_engine::read_file_nowait and sync_files: requests of open, I/O and close on a path,
// which the backend runs to the end without going back to the caller in between. Whatever
// step fails, the descriptor it opened is closed, and the status names that step.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "larder/io_engine.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
    ++n;
  return n;
}

void write_file(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

std::error_code errno_code(int e) {
  return {e, std::system_category()};
}

// A scratch directory and a descriptor on it, the dirfd of the requests.
class scratch_root : public testing::temp_dir {
 public:
  scratch_root() : fd_(::open(path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
  }
  ~scratch_root() { ::close(fd_); }
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

constexpr int read_flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
constexpr int create = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;

// A file someone else holds at a temp name, and a directory in the way of a rename.
void plant_obstacles(const std::string& dir) {
  write_file(dir + "/taken.tmp", "someone else's");
  REQUIRE(::mkdir((dir + "/a-directory").c_str(), 0700) == 0);
}

}  // namespace

TEST_CASE("io_engine::read_file_nowait: bytes, a missing file, a symlink and a FIFO", "[io]") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  scratch_root dir;
  const int root = dir.fd();
  write_file(dir.path() + "/file", "payload");
  REQUIRE(::symlink("file", (dir.path() + "/link").c_str()) == 0);
  REQUIRE(::mkfifo((dir.path() + "/fifo").c_str(), 0600) == 0);
  // A silent writer holds the FIFO open, so a waiting read would hang here.
  const int writer = ::open((dir.path() + "/fifo").c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  REQUIRE(writer >= 0);

  testing::io_runner runner;
  // Counted with the io_context's reactor (which a timer brings up: its epoll, timer and
  // wake-up descriptors) but without the engine (its ring, its workers' descriptors).
  asio::steady_timer reactor_up(runner.context());
  const auto before = open_descriptors();
  auto engine = testing::make_engine(runner.context(), backend);
  file_read whole, shorter, missing, link, fifo;
  runner.run([&]() -> asio::awaitable<void> {
    whole = co_await engine->read_file_nowait(root, "file", read_flags, 64);
    shorter = co_await engine->read_file_nowait(root, "file", read_flags, 3);
    missing = co_await engine->read_file_nowait(root, "absent", read_flags, 64);
    link = co_await engine->read_file_nowait(root, "link", read_flags, 64);
    fifo = co_await engine->read_file_nowait(root, "fifo", read_flags, 64);
  });
  REQUIRE_FALSE(whole.status.error);
  CHECK(whole.status.failed == file_step::none);
  CHECK(std::string(std::move(whole.bytes).freeze().view()) == "payload");  // short at EOF
  REQUIRE_FALSE(shorter.status.error);
  CHECK(std::string(std::move(shorter.bytes).freeze().view()) == "pay");
  CHECK(missing.status.failed == file_step::open);
  CHECK(missing.status.error == errno_code(ENOENT));
  CHECK(link.status.failed == file_step::open);
  CHECK(link.status.error == errno_code(ELOOP));
  INFO("backend " << static_cast<int>(backend) << ", FIFO: " << fifo.status.error.message());
  CHECK(fifo.status.failed == file_step::io);
  const bool refused =
      fifo.status.error == errno_code(EAGAIN) || fifo.status.error == errno_code(EOPNOTSUPP);
  CHECK(refused);
  engine.reset();
  CHECK(open_descriptors() == before);  // the FIFO's descriptor was closed after the refusal
  ::close(writer);
}

TEST_CASE("io_engine::sync_files: one status per path, in order, nothing left open", "[io]") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  scratch_root dir;
  const int root = dir.fd();
  std::vector<std::string> paths;
  for (int i = 0; i < 40; ++i) {
    paths.push_back("f" + std::to_string(i));
    if (i != 7) write_file(dir.path() + "/" + paths.back(), "data " + std::to_string(i));
  }

  testing::io_runner runner;
  // Counted with the io_context's reactor (which a timer brings up: its epoll, timer and
  // wake-up descriptors) but without the engine (its ring, its workers' descriptors).
  asio::steady_timer reactor_up(runner.context());
  const auto before = open_descriptors();
  auto engine = testing::make_engine(runner.context(), backend);
  std::vector<file_status> files, dirs, none;
  runner.run([&]() -> asio::awaitable<void> {
    // Named locals: GCC 12 mishandles braced temporaries inside a co_await expression.
    std::vector<std::string> dot{"."}, nothing;
    files = co_await engine->sync_files(root, paths, read_flags, true);
    dirs = co_await engine->sync_files(root, std::move(dot), O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                                       false);
    none = co_await engine->sync_files(root, std::move(nothing), read_flags, true);
  });
  REQUIRE(files.size() == paths.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    INFO("path " << paths[i]);
    if (i == 7) {
      CHECK(files[i].failed == file_step::open);
      CHECK(files[i].error == errno_code(ENOENT));
    } else {
      CHECK(files[i].failed == file_step::none);
      CHECK_FALSE(files[i].error);
    }
  }
  REQUIRE(dirs.size() == 1);
  CHECK_FALSE(dirs[0].error);
  CHECK(none.empty());
  const auto m = engine->metrics();
  CHECK(m.ops_submitted == paths.size() + 1);
  CHECK(m.ops_completed == m.ops_submitted);
  engine.reset();
  CHECK(open_descriptors() == before);
}

TEST_CASE("io_engine: a cancelled caller of a path request leaves no descriptor open",
          "[io][concurrency]") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  scratch_root dir;
  const int root = dir.fd();
  std::vector<std::string> paths;
  for (int i = 0; i < 64; ++i) {
    paths.push_back("f" + std::to_string(i));
    write_file(dir.path() + "/" + paths.back(), std::string(4096, 'x'));
  }

  testing::io_runner runner;
  // Counted with the io_context's reactor (which a timer brings up: its epoll, timer and
  // wake-up descriptors) but without the engine (its ring, its workers' descriptors).
  asio::steady_timer reactor_up(runner.context());
  const auto before = open_descriptors();
  auto engine = testing::make_engine(runner.context(), backend);
  int cancelled = 0, finished = 0;
  runner.run([&]() -> asio::awaitable<void> {
    for (int round = 0; round < 20; ++round) {
      auto syncs = [&]() -> asio::awaitable<void> {
        const auto statuses = co_await engine->sync_files(root, paths, read_flags, true);
        if (statuses.front().error == errc::cancelled)
          ++cancelled;
        else
          ++finished;
      };
      auto reads = [&]() -> asio::awaitable<void> {
        const auto r = co_await engine->read_file_nowait(root, "f1", read_flags, 8192);
        if (r.status.error == errc::cancelled)
          ++cancelled;
        else
          ++finished;
      };
      auto soon = [&]() -> asio::awaitable<void> {
        asio::steady_timer timer(co_await asio::this_coro::executor, 0ms);
        co_await timer.async_wait(asio::use_awaitable);
      };
      co_await ((syncs() && reads()) || soon());
    }
  });
  // Cancelled callers resume at once; their requests still run to their close.
  for (int i = 0; i < 500; ++i) {
    const auto m = engine->metrics();
    if (m.ops_completed == m.ops_submitted) break;
    std::this_thread::sleep_for(10ms);
  }
  const auto m = engine->metrics();
  INFO("backend " << static_cast<int>(backend) << ", cancelled " << cancelled);
  CHECK(m.ops_completed == m.ops_submitted);
  CHECK(cancelled + finished > 0);
  engine.reset();
  CHECK(open_descriptors() == before);
}

TEST_CASE("io_engine::write_file: installs by rename, and leaves no temp file when it fails",
          "[io]") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  scratch_root dir;
  const int root = dir.fd();
  plant_obstacles(dir.path());
  write_file(dir.path() + "/kept", "old");

  testing::io_runner runner;
  asio::steady_timer reactor_up(runner.context());
  const auto before = open_descriptors();
  auto engine = testing::make_engine(runner.context(), backend);
  file_status installed, taken, over_directory;
  runner.run([&]() -> asio::awaitable<void> {
    std::vector<blob> parts{blob(std::string("head|")), blob(), blob(std::string(70000, 'v')),
                            blob(std::string("|foot"))};
    installed = co_await engine->write_file(root, "new.tmp", "new", std::move(parts), create, 0600);
    std::vector<blob> other{blob(std::string("x"))};
    taken = co_await engine->write_file(root, "taken.tmp", "kept", std::move(other), create, 0600);
    std::vector<blob> third{blob(std::string("y"))};
    over_directory =
        co_await engine->write_file(root, "dir.tmp", "a-directory", std::move(third), create, 0600);
  });
  engine.reset();
  auto read_all = [&](const std::string& name) {
    std::string bytes;
    const int fd = ::open((dir.path() + "/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string("<absent>");
    char buffer[65536];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;)
      bytes.append(buffer, static_cast<std::size_t>(n));
    ::close(fd);
    return bytes;
  };
  CHECK_FALSE(installed.error);
  CHECK(read_all("new") == "head|" + std::string(70000, 'v') + "|foot");
  CHECK(read_all("new.tmp") == "<absent>");
  // O_EXCL: somebody's file at the temp name is neither written nor removed.
  CHECK(taken.failed == file_step::open);
  CHECK(taken.error == errno_code(EEXIST));
  CHECK(read_all("taken.tmp") == "someone else's");
  CHECK(read_all("kept") == "old");
  // The rename fails (a directory is in the way): the temp file it wrote is gone again.
  CHECK(over_directory.failed == file_step::rename);
  CHECK(over_directory.error == errno_code(EISDIR));
  CHECK(read_all("dir.tmp") == "<absent>");
  CHECK(open_descriptors() == before);
}

namespace {

// Linux 5.19 added sparse registered files, which chains need; io_uring_setup says the rest.
bool kernel_has_chains() {
  std::ifstream release("/proc/sys/kernel/osrelease");
  int major = 0, minor = 0;
  char dot = 0;
  release >> major >> dot >> minor;
  return major > 5 || (major == 5 && minor >= 19);
}

}  // namespace

TEST_CASE("io_engine: on io_uring a path request is one chain, and its slot comes back",
          "[io][concurrency]") {
  scratch_root dir;
  const int root = dir.fd();
  plant_obstacles(dir.path());
  write_file(dir.path() + "/present", "bytes");

  testing::io_runner runner;
  asio::steady_timer reactor_up(runner.context());
  const auto before = open_descriptors();
  std::shared_ptr<io_engine> engine;
  try {
    // Four SQEs, so four slots: a chain that kept its slot would starve the rest quickly.
    engine =
        io_engine::create(runner.context(), {.backend = io_backend::io_uring, .queue_depth = 4});
  } catch (const std::system_error& e) {
    WARN("io_uring unavailable here: " << e.what());
    return;
  }
  // Every way a chain can end: each step failing, a short read that goes on alone, success.
  std::vector<file_status> statuses;
  std::string short_read;
  runner.run([&]() -> asio::awaitable<void> {
    for (int round = 0; round < 3; ++round) {
      statuses.push_back((co_await engine->read_file_nowait(root, "absent", read_flags, 8)).status);
      statuses.push_back(
          (co_await engine->read_file_nowait(root, "a-directory", read_flags, 8)).status);
      auto r = co_await engine->read_file_nowait(root, "present", read_flags, 64);
      statuses.push_back(r.status);
      short_read = std::string(std::move(r.bytes).freeze().view());
      std::vector<blob> a{blob(std::string("x"))}, b{blob(std::string("y"))},
          c{blob(std::string("z"))};
      statuses.push_back(
          co_await engine->write_file(root, "taken.tmp", "t", std::move(a), create, 0600));
      statuses.push_back(
          co_await engine->write_file(root, "d.tmp", "a-directory", std::move(b), create, 0600));
      statuses.push_back(
          co_await engine->write_file(root, "w.tmp", "w", std::move(c), create, 0600));
      std::vector<std::string> syncs{"present", "absent"};
      for (auto& s : co_await engine->sync_files(root, std::move(syncs), read_flags, true))
        statuses.push_back(s);
    }
  });
  const std::vector<file_step> expected{file_step::open, file_step::io,     file_step::none,
                                        file_step::open, file_step::rename, file_step::none,
                                        file_step::none, file_step::open};
  REQUIRE(statuses.size() == 3 * expected.size());
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    INFO("request " << i << ": " << statuses[i].error.message());
    CHECK(statuses[i].failed == expected[i % expected.size()]);
  }
  CHECK(short_read == "bytes");
  const auto sequential = engine->metrics().linked_chains;
  if (kernel_has_chains()) CHECK(sequential == statuses.size());

  // More writes at once than slots: the rest go step by step, and all of them land.
  for (int i = 0; i < 40; ++i)
    runner.spawn([&, i]() -> asio::awaitable<void> {
      std::vector<blob> parts{blob(std::string(5000, static_cast<char>('a' + i % 26)))};
      const auto name = "many" + std::to_string(i);
      auto s =
          co_await engine->write_file(root, name + ".tmp", name, std::move(parts), create, 0600);
      if (s.error) throw std::system_error(s.error);
    });
  runner.run();
  const auto chained = engine->metrics().linked_chains - sequential;
  if (kernel_has_chains()) {
    CHECK(chained >= 4);
    CHECK(chained <= 40);
  }
  for (int i = 0; i < 40; ++i)
    CHECK(std::filesystem::file_size(dir.path() + "/many" + std::to_string(i)) == 5000);
  engine.reset();
  CHECK(open_descriptors() == before);
}
