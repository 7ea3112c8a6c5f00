#include "larder/io_engine.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/io_runner.hpp"

using namespace larder;
using namespace std::chrono_literals;
using namespace asio::experimental::awaitable_operators;

namespace {

struct uring_backend {
  static constexpr io_backend value = io_backend::io_uring;
};
struct pool_backend {
  static constexpr io_backend value = io_backend::thread_pool;
};

// io_uring may be refused where the tests run (seccomp in a container): then say so and skip.
std::shared_ptr<io_engine> make_engine(asio::io_context& io, io_backend kind,
                                       io_engine_options options = {}) {
  options.backend = kind;
  try {
    return io_engine::create(io, options);
  } catch (const std::system_error& e) {
    WARN("io_uring unavailable here, skipping: " << e.what());
    return nullptr;
  }
}

// A unique directory under $LARDER_TEST_TMP (or /tmp), removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("LARDER_TEST_TMP");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/larder-io-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
    fd_ = ::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd_ >= 0);
  }
  ~temp_dir() {
    ::close(fd_);
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  int fd() const noexcept { return fd_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
  int fd_ = -1;
};

blob pattern(std::size_t size, unsigned seed) {
  std::string bytes(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = static_cast<char>((i * 31 + seed) % 251);
  return blob(std::move(bytes));
}

constexpr int create_flags = O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC;

// The thread pool finishes a cancelled op on its worker after the caller has moved on.
void wait_until_quiet(const io_engine& engine) {
  for (int i = 0; i < 500; ++i) {
    const auto m = engine.metrics();
    if (m.ops_completed == m.ops_submitted) return;
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace

#define BACKENDS uring_backend, pool_backend

TEMPLATE_TEST_CASE("io_engine: write then read round-trips, short only at EOF", "[io]", BACKENDS) {
  testing::io_runner runner;
  temp_dir dir;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  CHECK(engine->backend() == TestType::value);
  const blob big = pattern(5 << 20, 7);  // several MiB: many chunks in the kernel
  const blob tail_a = pattern(1000, 1), tail_b = pattern(3, 2);
  runner.run([&]() -> asio::awaitable<void> {
    const auto fd = co_await engine->openat(dir.fd(), "data", create_flags, 0600);
    REQUIRE(fd);
    const auto wrote = co_await engine->write(*fd, big, 0);
    REQUIRE(wrote);
    CHECK(*wrote == big.size());
    // Built outside the co_await: GCC 12 miscompiles a braced list in a co_await's call.
    std::vector<blob> parts{tail_a, blob{}, tail_b};
    const auto wrote_v = co_await engine->writev(*fd, std::move(parts), big.size());
    REQUIRE(wrote_v);
    CHECK(*wrote_v == 1003);
    const auto synced = co_await engine->fsync(*fd, true);
    CHECK_FALSE(synced);

    auto all = co_await engine->read(*fd, big.size() + 1003, 0);
    REQUIRE(all);
    REQUIRE(all->size() == big.size() + 1003);
    const blob got = std::move(*all).freeze();
    CHECK(got.slice(0, big.size()) == big);
    CHECK(got.slice(big.size(), 1000) == tail_a);
    CHECK(got.slice(big.size() + 1000, 3) == tail_b);

    const auto at_eof = co_await engine->read(*fd, 100, big.size() + 1000);
    REQUIRE(at_eof);
    CHECK(at_eof->size() == 3);
    const auto past_eof = co_await engine->read(*fd, 100, big.size() + 5000);
    REQUIRE(past_eof);
    CHECK(past_eof->size() == 0);
    const auto closed = co_await engine->close(*fd);
    CHECK_FALSE(closed);
    const auto bad_close = co_await engine->close(-1);
    CHECK(bad_close == std::errc::bad_file_descriptor);
  });
  const auto m = engine->metrics();
  CHECK(m.ops_completed == m.ops_submitted);
  CHECK(m.errors == 1);  // the close of -1
}

TEMPLATE_TEST_CASE("io_engine: opens report errno, openat2 stays beneath its root", "[io]",
                   BACKENDS) {
  testing::io_runner runner;
  temp_dir dir;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  REQUIRE(::symlink("/etc/hostname", dir.file("link").c_str()) == 0);
  runner.run([&]() -> asio::awaitable<void> {
    const auto missing = co_await engine->openat(dir.fd(), "missing", O_RDONLY | O_CLOEXEC);
    REQUIRE_FALSE(missing);
    CHECK(missing.error() == std::errc::no_such_file_or_directory);
    CHECK(missing.error().category() == std::system_category());

    const auto made = co_await engine->openat2(dir.fd(), "inside", create_flags, 0600);
    REQUIRE(made);
    const auto closed = co_await engine->close(*made);
    CHECK_FALSE(closed);
    const auto escape = co_await engine->openat2(dir.fd(), "../x", O_RDONLY | O_CLOEXEC);
    CHECK(escape.error() == std::errc::cross_device_link);  // EXDEV: outside the root
    const auto link = co_await engine->openat2(dir.fd(), "link", O_RDONLY | O_CLOEXEC);
    CHECK(link.error() == std::errc::too_many_symbolic_link_levels);  // ELOOP
  });
}

TEMPLATE_TEST_CASE("io_engine: renameat installs atomically; mkdirat, unlinkat, statx", "[io]",
                   BACKENDS) {
  testing::io_runner runner;
  temp_dir dir;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  runner.run([&]() -> asio::awaitable<void> {
    auto put = [&](std::string name, blob bytes) -> asio::awaitable<void> {
      const auto fd = co_await engine->openat(dir.fd(), std::move(name), create_flags, 0600);
      REQUIRE(fd);
      const auto w = co_await engine->write(*fd, std::move(bytes), 0);
      REQUIRE(w);
      const auto c = co_await engine->close(*fd);
      REQUIRE_FALSE(c);
    };
    co_await put("target", blob::copy_of("old"));
    co_await put("target.tmp", pattern(1234, 3));
    const auto renamed = co_await engine->renameat(dir.fd(), "target.tmp", dir.fd(), "target");
    CHECK_FALSE(renamed);
    const auto st = co_await engine->statx(dir.fd(), "target", AT_SYMLINK_NOFOLLOW, STATX_SIZE);
    REQUIRE(st);
    CHECK(st->stx_size == 1234);
    const auto tmp_gone = co_await engine->statx(dir.fd(), "target.tmp", 0, STATX_SIZE);
    CHECK(tmp_gone.error() == std::errc::no_such_file_or_directory);
    co_await put("other", blob::copy_of("x"));
    const auto no_replace =
        co_await engine->renameat(dir.fd(), "other", dir.fd(), "target", RENAME_NOREPLACE);
    CHECK(no_replace == std::errc::file_exists);

    const auto made = co_await engine->mkdirat(dir.fd(), "sub", 0700);
    CHECK_FALSE(made);
    const auto again = co_await engine->mkdirat(dir.fd(), "sub", 0700);
    CHECK(again == std::errc::file_exists);
    const auto dst = co_await engine->statx(dir.fd(), "sub", 0, STATX_TYPE);
    REQUIRE(dst);
    CHECK(S_ISDIR(dst->stx_mode));
    const auto not_empty_dir = co_await engine->unlinkat(dir.fd(), "sub", 0);
    CHECK(not_empty_dir == std::errc::is_a_directory);
    const auto rmdir = co_await engine->unlinkat(dir.fd(), "sub", AT_REMOVEDIR);
    CHECK_FALSE(rmdir);
    const auto unlinked = co_await engine->unlinkat(dir.fd(), "target");
    CHECK_FALSE(unlinked);
    const auto gone = co_await engine->statx(dir.fd(), "target", 0, STATX_SIZE);
    CHECK(gone.error() == std::errc::no_such_file_or_directory);
  });
}

TEMPLATE_TEST_CASE("io_engine: fsync_all syncs many fds in one submission", "[io]", BACKENDS) {
  testing::io_runner runner;
  temp_dir dir;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  std::vector<int> fds;
  for (int i = 0; i < 24; ++i) {
    const int fd = ::openat(dir.fd(), ("f" + std::to_string(i)).c_str(), create_flags, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "abc", 3) == 3);
    fds.push_back(fd);
  }
  fds.push_back(-1);  // errors are per fd
  std::vector<std::error_code> results;
  std::uint64_t submits = 0;
  runner.run([&]() -> asio::awaitable<void> {
    const auto before = engine->metrics().submit_calls;
    results = co_await engine->fsync_all(fds, true);
    submits = engine->metrics().submit_calls - before;
  });
  REQUIRE(results.size() == fds.size());
  for (std::size_t i = 0; i + 1 < results.size(); ++i)
    CHECK_FALSE(results[i]);
  CHECK(results.back() == std::errc::bad_file_descriptor);
  if (TestType::value == io_backend::io_uring) CHECK(submits == 1);
  for (int fd : fds)
    if (fd >= 0) ::close(fd);
}

TEMPLATE_TEST_CASE("io_engine: 64 coroutines on 2 threads each write and read their file",
                   "[io][concurrency]", BACKENDS) {
  testing::io_runner runner(2);
  temp_dir dir;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  std::mutex mutex;
  std::vector<std::string> failures;  // asserted on the test thread after run()
  auto fail = [&](std::string what) {
    std::lock_guard lock(mutex);
    failures.push_back(std::move(what));
  };
  for (unsigned i = 0; i < 64; ++i) {
    runner.spawn([&, i]() -> asio::awaitable<void> {
      const blob bytes = pattern(20000 + i * 777, i);
      const auto fd =
          co_await engine->openat(dir.fd(), "c" + std::to_string(i), create_flags, 0600);
      if (!fd) co_return fail("open " + fd.error().message());
      for (int round = 0; round < 4; ++round) {
        const auto w = co_await engine->write(*fd, bytes, 0);
        if (!w || *w != bytes.size()) co_return fail("write");
        auto r = co_await engine->read(*fd, bytes.size() + 10, 0);
        if (!r) co_return fail("read " + r.error().message());
        if (!(std::move(*r).freeze() == bytes)) co_return fail("bytes differ");
      }
      const auto c = co_await engine->close(*fd);
      if (c) fail("close " + c.message());
    });
  }
  runner.run();
  for (const auto& f : failures)
    UNSCOPED_INFO(f);
  CHECK(failures.empty());
  const auto m = engine->metrics();
  CHECK(m.ops_submitted == 64 * 10);
  CHECK(m.ops_completed == m.ops_submitted);
  CHECK(m.errors == 0);
}

TEMPLATE_TEST_CASE("io_engine: a read that never gets data is cancelled by a timer",
                   "[io][concurrency]", BACKENDS) {
  testing::io_runner runner;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  std::error_code read_error;
  std::size_t later_size = 0;
  runner.run([&]() -> asio::awaitable<void> {
    auto reader = [&]() -> asio::awaitable<void> {
      const auto r = co_await engine->read(p[0], 16, 0);
      read_error = r.error();
    };
    auto timeout = [&]() -> asio::awaitable<void> {
      asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
      co_await timer.async_wait(asio::use_awaitable);
    };
    co_await (reader() || timeout());
    // Nothing was consumed and nothing is stuck: the pipe still works for a new read, which
    // ends short at end of file.
    REQUIRE(::write(p[1], "hello", 5) == 5);
    ::close(std::exchange(p[1], -1));
    const auto r = co_await engine->read(p[0], 16, 0);
    REQUIRE(r);
    later_size = r->size();
  });
  CHECK(read_error == errc::cancelled);
  CHECK(later_size == 5);
  wait_until_quiet(*engine);
  const auto m = engine->metrics();
  CHECK(m.cancellations == 1);
  CHECK(m.ops_completed == m.ops_submitted);  // the cancelled op got its final result too
  ::close(p[0]);
}

TEMPLATE_TEST_CASE("io_engine: cancellation racing completion on 2 threads", "[io][concurrency]",
                   BACKENDS) {
  testing::io_runner runner(2);
  temp_dir dir;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  const blob bytes = pattern(8192, 9);
  const int fd = ::openat(dir.fd(), "race", create_flags, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  std::atomic<int> done{0}, cancelled{0}, wrong{0};
  for (int c = 0; c < 16; ++c) {
    // Each coroutine on its own strand: Asio's || is not itself safe across threads.
    asio::co_spawn(
        asio::make_strand(runner.context()),
        [&, c]() -> asio::awaitable<void> {
          for (int i = 0; i < 25; ++i) {
            std::error_code ec;
            auto reader = [&]() -> asio::awaitable<void> {
              auto r = co_await engine->read(fd, bytes.size(), 0);
              ec = r.error();
              if (r && !(std::move(*r).freeze() == bytes)) ++wrong;
            };
            auto timeout = [&]() -> asio::awaitable<void> {
              asio::steady_timer t(co_await asio::this_coro::executor, (c + i) % 5 * 20us);
              co_await t.async_wait(asio::use_awaitable);
            };
            co_await (reader() || timeout());
            if (!ec)
              ++done;
            else if (ec == errc::cancelled)
              ++cancelled;
            else
              ++wrong;
          }
        },
        [&](std::exception_ptr e) {
          if (e) ++wrong;
        });
  }
  runner.run();
  CHECK(wrong == 0);
  CHECK(done + cancelled == 16 * 25);
  wait_until_quiet(*engine);
  const auto m = engine->metrics();
  CHECK(m.ops_completed == m.ops_submitted);
  CHECK(m.cancellations == static_cast<std::uint64_t>(cancelled.load()));
  ::close(fd);
}

TEMPLATE_TEST_CASE("io_engine: shutdown completes waiting callers with shut_down", "[io]",
                   BACKENDS) {
  testing::io_runner runner;
  auto engine = make_engine(runner.context(), TestType::value);
  if (!engine) return;
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  std::error_code during, after;
  runner.spawn([&]() -> asio::awaitable<void> {
    const auto r = co_await engine->read(p[0], 16, 0);
    during = r.error();
    const auto again = co_await engine->read(p[0], 16, 0);
    after = again.error();
  });
  runner.spawn([&]() -> asio::awaitable<void> {
    asio::steady_timer timer(co_await asio::this_coro::executor, 30ms);
    co_await timer.async_wait(asio::use_awaitable);
    engine->shutdown();
  });
  runner.run();
  CHECK(during == errc::shut_down);
  CHECK(after == errc::shut_down);
  engine.reset();  // the backend goes once its last completion is in
  ::close(p[0]);
  ::close(p[1]);
}

namespace {
// Starts `count` reads of one small file in the same turn of a one-thread loop.
io_engine_metrics read_many_in_one_turn(io_engine_options options, int count) {
  testing::io_runner runner;
  temp_dir dir;
  auto engine = make_engine(runner.context(), io_backend::io_uring, options);
  if (!engine) return {};
  const int fd = ::openat(dir.fd(), "many", create_flags, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "0123456789", 10) == 10);
  std::atomic<int> good{0};
  for (int i = 0; i < count; ++i) {
    runner.spawn([&]() -> asio::awaitable<void> {
      auto r = co_await engine->read(fd, 10, 0);
      if (r && std::move(*r).freeze().view() == "0123456789") ++good;
    });
  }
  runner.run();
  ::close(fd);
  CHECK(good == count);
  return engine->metrics();
}
}  // namespace

TEST_CASE("io_engine: io_uring batches a turn's requests into one submission", "[io]") {
  const auto m = read_many_in_one_turn({}, 48);
  if (m.backend.empty()) return;
  CHECK(m.backend == "io_uring");
  CHECK_FALSE(m.io_uring_error);
  CHECK(m.ops_submitted == 48);
  CHECK(m.submit_calls < m.ops_submitted / 4);
}

TEST_CASE("io_engine: a tiny ring overflows its CQ and loses nothing", "[io]") {
  const auto m = read_many_in_one_turn({.queue_depth = 2, .completion_queue_depth = 2}, 64);
  if (m.backend.empty()) return;
  INFO("cq overflows " << m.cq_overflows << ", submits " << m.submit_calls);
  CHECK(m.ops_completed == 64);
  CHECK(m.cq_overflows > 0);
}

TEMPLATE_TEST_CASE("io_engine: an io_context destroyed with a read in flight frees it all", "[io]",
                   BACKENDS) {
  auto io = std::make_unique<asio::io_context>();
  auto engine = make_engine(*io, TestType::value);
  if (!engine) return;
  int p[2];
  REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
  bool resumed = false;
  asio::co_spawn(
      *io,
      [e = engine.get(), fd = p[0], &resumed]() -> asio::awaitable<void> {
        const auto r = co_await e->read(fd, 16, 0);
        resumed = true;
      },
      asio::detached);
  io->run_for(20ms);  // the read is in the kernel (or blocked on a worker) now
  engine.reset();     // cancels it; the ring or pool lives until its completion is in
  io.reset();         // never run again: the waiting coroutine is destroyed, not resumed
  CHECK_FALSE(resumed);
  ::close(p[0]);
  ::close(p[1]);
}

TEST_CASE("io_engine: the thread pool is chosen by option or environment", "[io]") {
  asio::io_context io;
  {
    auto engine = io_engine::create(io, {.backend = io_backend::thread_pool});
    CHECK(engine->backend() == io_backend::thread_pool);
    CHECK(engine->metrics().backend == "thread_pool");
  }
  ::setenv("LARDER_IO_BACKEND", "thread_pool", 1);
  auto from_env = io_engine::create(io);
  ::unsetenv("LARDER_IO_BACKEND");
  CHECK(from_env->backend() == io_backend::thread_pool);
  CHECK(from_env->metrics().submit_calls == 0);
}
