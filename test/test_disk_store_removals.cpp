// Removals are durable and ordered: a removal completes only after its unlinks, one that
// overlaps a removal in flight waits for it, and flush waits for every removal begun before
// it. A child process runs the scenario and SIGKILLs itself the moment flush completes;
// after reopening, nothing it removed may be back. And an unlink that fails (a file system
// remounted read-only) is an error that keeps the entry.
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <string>

#include "larder/disk_store.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;

namespace {

constexpr int entry_count = 500;

// Exit codes of the child: which step went wrong (it should die of SIGKILL instead).
enum child_exit : int {
  open_failed = 3,
  put_failed,
  first_flush_failed,
  second_prefix_wrong,
  erase_wrong,
  last_flush_failed,
  ran_off,
};

[[noreturn]] void removal_child(const std::string& root, io_backend backend) {
  {
    asio::io_context io;
    std::shared_ptr<io_engine> engine;
    try {
      engine = io_engine::create(io, {.backend = backend});
    } catch (const std::system_error&) {
      engine = io_engine::create(io, {.backend = io_backend::thread_pool});
    }
    auto opened = testing::open_now(io, engine, {.root = root});
    if (!opened) ::_exit(open_failed);
    auto& s = **opened;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (int i = 0; i < entry_count; ++i) {
            const auto ec = co_await s.put("p/" + std::to_string(i), blob::copy_of("value"));
            if (ec) ::_exit(put_failed);
          }
          if (co_await s.flush()) ::_exit(first_flush_failed);
          auto executor = co_await asio::this_coro::executor;
          asio::co_spawn(
              executor,
              [&s]() -> asio::awaitable<void> { (void)co_await s.invalidate_prefix("p/"); },
              asio::detached);
          co_await asio::post(executor, asio::use_awaitable);  // let it start
          const auto second = co_await s.invalidate_prefix("p/");
          if (!second || *second != 0) ::_exit(second_prefix_wrong);
          const auto erased = co_await s.erase("p/499");
          if (!erased || *erased) ::_exit(erase_wrong);
          if (co_await s.flush()) ::_exit(last_flush_failed);
          // Acknowledged and flushed: die before anything else can run.
          ::kill(::getpid(), SIGKILL);
        },
        asio::detached);
    io.run();
  }
  ::_exit(ran_off);
}

// Runs `body` on the io_context until it is done.
template <class F>
void run_now(asio::io_context& io, F body) {
  asio::co_spawn(io, std::move(body), asio::detached);
  io.run();
  io.restart();
}

// Exit codes of the read-only child.
enum ro_exit : int {
  cannot_mount = 77,  // no mount namespace or tmpfs here: skip
  ro_open_failed = 10,
  ro_put_failed,
  ro_remount_failed,
  ro_erase_succeeded,
  ro_prefix_succeeded,
  ro_entries_lost,
  ro_get_missed,
  rw_erase_failed,
  rw_prefix_wrong,
  reopen_wrong,
  ro_ok = 0,
};

// In a mount namespace of its own: a tmpfs holds the cache; with 11 entries flushed it is
// remounted read-only (the superblock, so the store's open descriptors see it too).
[[noreturn]] void read_only_child(const std::string& mount_point, io_backend backend) {
  if (::unshare(CLONE_NEWNS) != 0 ||
      ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount("tmpfs", mount_point.c_str(), "tmpfs", 0, "size=8m") != 0)
    ::_exit(cannot_mount);
  int code = ro_ok;
  {
    asio::io_context io;
    std::shared_ptr<io_engine> engine;
    try {
      engine = io_engine::create(io, {.backend = backend});
    } catch (const std::system_error&) {
      engine = io_engine::create(io, {.backend = io_backend::thread_pool});
    }
    const disk_store_options options{.root = mount_point + "/cache"};
    auto opened = testing::open_now(io, engine, options);
    if (!opened) ::_exit(ro_open_failed);
    auto& s = **opened;
    auto remount = [&](unsigned long flags) {
      return ::mount(nullptr, mount_point.c_str(), nullptr, MS_REMOUNT | flags, nullptr) == 0;
    };
    run_now(io, [&]() -> asio::awaitable<void> {
      for (int i = 0; i <= 10; ++i)
        if (co_await s.put("r/" + std::to_string(i), blob::copy_of("value"))) code = ro_put_failed;
      if (co_await s.flush()) code = ro_put_failed;
    });
    if (code != ro_ok) ::_exit(code);
    if (!remount(MS_RDONLY)) ::_exit(ro_remount_failed);
    run_now(io, [&]() -> asio::awaitable<void> {
      const auto erased = co_await s.erase("r/10");
      if (erased) code = ro_erase_succeeded;  // true or false, it must be an error
      const auto prefix = co_await s.invalidate_prefix("r/");
      if (code == ro_ok && prefix) code = ro_prefix_succeeded;
      if (code == ro_ok && s.metrics().entries != 11) code = ro_entries_lost;
      const auto got = co_await s.get("r/10");
      if (code == ro_ok && !got.is_hit()) code = ro_get_missed;
    });
    if (code != ro_ok) ::_exit(code);
    if (!remount(0)) ::_exit(ro_remount_failed);
    run_now(io, [&]() -> asio::awaitable<void> {
      const auto erased = co_await s.erase("r/10");
      if (!erased || !*erased) code = rw_erase_failed;
      const auto prefix = co_await s.invalidate_prefix("r/");
      if (code == ro_ok && (!prefix || *prefix != 10)) code = rw_prefix_wrong;
      if (co_await s.flush()) code = rw_prefix_wrong;
    });
    if (code != ro_ok) ::_exit(code);
    opened->reset();
    auto again = testing::open_now(io, engine, options);
    if (!again || (*again)->metrics().entries != 0) ::_exit(reopen_wrong);
  }
  ::_exit(code);
}

}  // namespace

TEST_CASE("disk_store: on a read-only remount a removal fails and keeps its entries",
          "[disk][removals]") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  INFO("backend " << static_cast<int>(backend));
  testing::temp_dir dir;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) read_only_child(dir.path(), backend);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == cannot_mount) {
    WARN("no mount namespace or tmpfs here (needs CAP_SYS_ADMIN): skipped");
    return;
  }
  CHECK(WEXITSTATUS(status) == ro_ok);
}

TEST_CASE("disk_store: a SIGKILL after flush brings no acknowledged removal back",
          "[disk][removals]") {
  const auto backend = GENERATE(io_backend::io_uring, io_backend::thread_pool);
  INFO("backend " << static_cast<int>(backend));
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) removal_child(root, backend);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  INFO("child exit code " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  testing::io_runner runner;
  auto engine = testing::make_engine(runner.context(), backend);
  auto opened = testing::open_now(runner.context(), engine, {.root = root});
  REQUIRE(opened.has_value());
  auto& s = **opened;
  CHECK(s.metrics().entries == 0);
  int back = 0;
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < entry_count; ++i) {
      auto got = co_await s.get("p/" + std::to_string(i));
      if (!got.is_miss()) ++back;
    }
  });
  CHECK(back == 0);
  opened->reset();
  engine.reset();
}
