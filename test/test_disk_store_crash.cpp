// A child process puts and flushes until it is SIGKILLed at a random moment; after reopening,
// every flushed entry is intact, nothing torn or foreign is returned, and no temp file
// survives open.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>

#include "larder/disk_store.hpp"
#include "larder/fingerprint.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t key_count = 40;

std::string key_of(std::uint64_t version) {
  return "crash/" + std::to_string(version % key_count);
}

// "<version>#<padding>" followed by the digest of key and body: a torn or foreign value
// cannot pass stamp_version.
blob stamped(std::uint64_t version) {
  std::string body = std::to_string(version) + '#';
  body.append(100 + (version * 7919) % 20000, static_cast<char>('a' + version % 26));
  const auto digest = fingerprint::of(key_of(version) + body);
  body.append(digest.key());
  return blob(std::move(body));
}

// The version a genuine value carries, or -1.
std::int64_t stamp_version(const std::string& key, std::string_view v) {
  if (v.size() < fingerprint::size) return -1;
  const auto body = v.substr(0, v.size() - fingerprint::size);
  if (fingerprint::of(key + std::string(body)).key() != v.substr(body.size())) return -1;
  return std::stoll(std::string(body.substr(0, body.find('#'))));
}

// The child: puts versions from `start` on, flushing every few puts and reporting through
// `report` the highest version that a completed flush covers. Never returns.
[[noreturn]] void child(const std::string& root, std::uint64_t start, int report) {
  {
    asio::io_context io;
    auto engine = io_engine::create(io);
    auto opened = testing::open_now(io, engine, {.root = root});
    if (!opened) ::_exit(3);
    auto& s = **opened;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          for (std::uint64_t v = start;; ++v) {
            const auto ec = co_await s.put(key_of(v), stamped(v));
            if (ec) ::_exit(4);
            if (v % 5 == 4) {
              const auto flushed = co_await s.flush();
              if (flushed) ::_exit(5);
              if (::write(report, &v, sizeof v) != sizeof v) ::_exit(6);
            }
          }
        },
        asio::detached);
    io.run();
  }
  ::_exit(7);
}

}  // namespace

TEST_CASE("disk_store: SIGKILL at random moments loses nothing flushed") {
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  std::mt19937 random(12345);
  std::uint64_t next_version = 0;
  std::map<std::string, std::uint64_t> flushed;  // key -> newest flushed version

  for (int round = 0; round < 6; ++round) {
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(pipe_fds[0]);
      child(root, next_version, pipe_fds[1]);
    }
    ::close(pipe_fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + random() % 150));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));  // it was still working, not failing

    std::uint64_t v = 0;
    std::int64_t newest = -1;
    while (::read(pipe_fds[0], &v, sizeof v) == sizeof v)
      newest = static_cast<std::int64_t>(v);
    ::close(pipe_fds[0]);
    // Every version up to the newest reported flush is durable: record each key's newest.
    for (std::int64_t w = static_cast<std::int64_t>(next_version); w <= newest; ++w)
      flushed[key_of(static_cast<std::uint64_t>(w))] = static_cast<std::uint64_t>(w);
    // Versions the child may have put after its last report: start past them all.
    next_version += 1'000'000;

    testing::io_runner runner;
    auto engine = testing::make_engine(runner.context(), io_backend::automatic);
    auto opened = testing::open_now(runner.context(), engine, {.root = root});
    REQUIRE(opened.has_value());
    auto& s = **opened;
    for (const auto& e : fs::recursive_directory_iterator(root))
      CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
    std::map<std::string, std::int64_t> seen;
    runner.run([&]() -> asio::awaitable<void> {
      for (std::uint64_t k = 0; k < key_count; ++k) {
        const auto key = key_of(k);
        auto got = co_await s.get(key);
        seen[key] = got.is_hit() ? stamp_version(key, got.value().view()) : -2;
      }
    });
    for (const auto& [key, version] : seen) {
      INFO("round " << round << " key " << key);
      CHECK(version != -1);  // a hit is always genuine
      auto it = flushed.find(key);
      if (it != flushed.end()) {
        // Flushed: present, and at least as new as the newest flushed version.
        CHECK(version >= static_cast<std::int64_t>(it->second));
      }
    }
    CHECK(s.metrics().lookups == s.metrics().hits + s.metrics().misses);  // no faults
    opened->reset();
    engine.reset();
  }
  CHECK_FALSE(flushed.empty());
}
