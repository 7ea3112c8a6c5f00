// Several stores on one root (docs/disk-format.md, "Sharing a root"): each sees what the
// others put and removed, invalidate_prefix reaches the others' entries, the byte bound
// holds across four processes, and four processes killed at random lose no flushed entry
// and bring back no flushed removal.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "larder/disk_store.hpp"
#include "support/disk_fixture.hpp"

using namespace larder;
using testing::pool;
using testing::session;
using testing::uring;
namespace fs = std::filesystem;

namespace {

std::string text_of(const lookup& l) {
  const auto v = l.value();
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

// Bytes of entry files under `root` (what the byte bound counts).
std::uint64_t entry_bytes(const std::string& root) {
  std::uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().extension() == ".bin") total += e.file_size();
  return total;
}

}  // namespace

TEMPLATE_TEST_CASE("disk_store: stores sharing a root see each other's puts and removals",
                   "[disk][sharing]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const disk_store_options options{.root = dir.path() + "/cache"};
  session a(B, options);  // alone when it joined
  CHECK_FALSE(a.store->disk_metrics().shared);
  session b(B, options);                  // joins while a is open
  CHECK(a.store->disk_metrics().shared);  // learnt from the count of joins, no call made
  CHECK(b.store->disk_metrics().shared);

  int wrong = 0;
  a.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 100; ++i)
      if (co_await a.store->put("s/" + std::to_string(i), blob::copy_of("a" + std::to_string(i))))
        ++wrong;
    for (int i = 0; i < 60; ++i)
      if (co_await a.store->put("p/" + std::to_string(i), blob::copy_of("p"))) ++wrong;
    if (co_await a.store->put("u/1", blob::copy_of("u"))) ++wrong;
  });
  REQUIRE(wrong == 0);
  // b's index was complete before any of those existed: each get reads the path.
  b.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 100; ++i) {
      const auto got = co_await b.store->get("s/" + std::to_string(i));
      if (!got.is_hit() || text_of(got) != "a" + std::to_string(i)) ++wrong;
    }
    for (int i = 0; i < 50; ++i)
      if (co_await b.store->put("t/" + std::to_string(i), blob::copy_of("b"))) ++wrong;
  });
  CHECK(wrong == 0);
  CHECK(b.store->metrics().entries == 150);  // what it read is indexed (and counted)
  a.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 50; ++i) {
      const auto got = co_await a.store->get("t/" + std::to_string(i));
      if (!got.is_hit() || text_of(got) != "b") ++wrong;
    }
  });
  CHECK(wrong == 0);

  // Removals in b reach a: one b had read, one it never saw, and a prefix of a's entries
  // that b knew nothing of.
  result<bool> erased_seen = false, erased_unseen = false;
  result<std::uint64_t> invalidated = 0;
  b.run([&]() -> asio::awaitable<void> {
    erased_seen = co_await b.store->erase("s/0");
    erased_unseen = co_await b.store->erase("u/1");
    invalidated = co_await b.store->invalidate_prefix("p/");
  });
  REQUIRE(erased_seen.has_value());
  CHECK(*erased_seen);
  REQUIRE(erased_unseen.has_value());
  CHECK(*erased_unseen);
  REQUIRE(invalidated.has_value());
  CHECK(*invalidated == 60);
  CHECK(b.store->disk_metrics().shared_found >= 60);

  result<std::uint64_t> again = 1;
  a.run([&]() -> asio::awaitable<void> {
    for (const std::string k : {"s/0", "u/1", "p/0", "p/59"}) {
      const auto got = co_await a.store->get(k);
      if (got.is_hit()) ++wrong;
    }
    // a's refresh finds the files gone: nothing left to remove, and they are forgotten.
    again = co_await a.store->invalidate_prefix("p/");
  });
  CHECK(wrong == 0);
  REQUIRE(again.has_value());
  CHECK(*again == 0);
  const auto am = a.store->disk_metrics();
  CHECK(am.shared_gone == 58);  // p/0 and p/59 its gets had forgotten already
  CHECK(am.store.entries == 99 + 50);

  // A third store opened now indexes exactly what is there.
  session c(B, options);
  CHECK(c.store->metrics().entries == 99 + 50);
}

TEST_CASE("disk_store: the byte bound holds across four processes sharing a root",
          "[disk][sharing]") {
  testing::temp_dir dir;
  const std::string root = dir.path() + "/cache";
  constexpr std::uint64_t bound = 400 * 1024;
  constexpr int writers = 4, puts_each = 600;
  {
    session first(io_backend::io_uring, {.root = root});  // the root exists before the fork
  }
  std::vector<pid_t> pids;
  for (int w = 0; w < writers; ++w) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      {
        session s(io_backend::io_uring, {.root = root, .max_bytes = bound});
        s.run([&]() -> asio::awaitable<void> {
          const std::string value(1000, static_cast<char>('a' + w));
          for (int i = 0; i < puts_each; ++i) {
            auto v = blob::copy_of(value);
            if (co_await s.store->put("w" + std::to_string(w) + "/" + std::to_string(i),
                                      std::move(v)))
              code = 1;
          }
        });
      }
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  for (const pid_t pid : pids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  // 4 x 600 KiB put against a 400 KiB bound: within 10% of it, and not emptied either.
  const auto total = entry_bytes(root);
  INFO("entry bytes " << total << " of " << bound);
  CHECK(total <= bound + bound / 10);
  CHECK(total >= bound / 2);
}

namespace {

// One process of the kill test: puts, erases, prefix invalidations and flushes of its own
// keys `c<w>/<j>`, gets of everyone's, until killed. Every step is written to `log` (one
// write(2) per line) before it begins and after it completes: "B key value" / "P key value"
// for a put, "b key" / "E key" for an erase, "i prefix" / "I prefix" for an invalidation,
// "F" after a flush. A get that returns bytes not written for its key ends the process
// with code 3.
[[noreturn]] void churn(const std::string& root, int w, const std::string& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) ::_exit(2);
  auto note = [fd](const std::string& line) {
    const auto text = line + '\n';
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) ::_exit(2);
  };
  int code = 0;
  {
    session s(io_backend::io_uring, {.root = root});
    s.run([&]() -> asio::awaitable<void> {
      std::mt19937 rng(static_cast<unsigned>(::getpid()));
      for (std::uint64_t seq = 0;; ++seq) {
        const int op = static_cast<int>(rng() % 100);
        const std::string key = "c" + std::to_string(w) + "/" + std::to_string(rng() % 40);
        if (op < 45) {
          const std::string value = key + "=" + std::to_string(seq);
          note("B " + key + " " + value);
          auto v = blob::copy_of(value);
          if (co_await s.store->put(key, std::move(v))) code = 4;
          note("P " + key + " " + value);
        } else if (op < 60) {
          note("b " + key);
          if (!(co_await s.store->erase(key))) code = 5;
          note("E " + key);
        } else if (op < 65) {
          const std::string prefix = "c" + std::to_string(w) + "/1";
          note("i " + prefix);
          if (!(co_await s.store->invalidate_prefix(prefix))) code = 6;
          note("I " + prefix);
        } else if (op < 90) {
          const std::string other =
              "c" + std::to_string(rng() % 4) + "/" + std::to_string(rng() % 40);
          const auto got = co_await s.store->get(other);
          if (got.is_hit() && !text_of(got).starts_with(other + "=")) ::_exit(3);
        } else {
          if (const auto ec = co_await s.store->flush()) {
            note("flush failed: " + ec.message());
            std::fprintf(stderr, "process %d: flush failed: %s\n", w, ec.message().c_str());
            code = 7;
          }
          note("F");
        }
        if (code != 0) ::_exit(code);
      }
    });
  }
  ::_exit(code);
}

// What a process's log allows each of its keys to hold after a crash: the state as of its
// last completed flush, or what any step begun after it may have left.
struct allowed {
  std::map<std::string, std::set<std::string>> values;  // "" stands for "absent"
};

allowed replay(const std::string& log) {
  std::ifstream in(log);
  std::map<std::string, std::string> acked, flushed;   // key -> value ("" absent)
  std::map<std::string, std::set<std::string>> since;  // begun after the last flush
  std::set<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::istringstream words(line);
    std::string kind, key, value;
    words >> kind >> key >> value;
    if (kind == "F") {
      flushed = acked;
      since.clear();
    } else if (kind == "B") {
      keys.insert(key);
      since[key].insert(value);
    } else if (kind == "P") {
      acked[key] = value;
    } else if (kind == "b") {
      since[key].insert("");
    } else if (kind == "E") {
      acked[key] = "";
    } else if (kind == "i" || kind == "I") {
      for (const auto& k : keys) {
        if (!k.starts_with(key)) continue;
        if (kind == "i") since[k].insert("");
        if (kind == "I") acked[k] = "";
      }
    }
  }
  allowed out;
  for (const auto& k : keys) {
    auto& set = out.values[k];
    const auto it = flushed.find(k);
    set.insert(it == flushed.end() ? "" : it->second);
    for (const auto& v : since[k])
      set.insert(v);
  }
  return out;
}

}  // namespace

TEST_CASE("disk_store: four processes killed at random on one root lose no flushed entry",
          "[disk][sharing]") {
  testing::temp_dir dir;
  const std::string root = dir.path() + "/cache";
  constexpr int processes = 4, rounds = 3;
  std::mt19937 rng(12345);
  for (int round = 0; round < rounds; ++round) {
    std::vector<pid_t> pids;
    std::vector<std::string> logs;
    for (int w = 0; w < processes; ++w) {
      logs.push_back(dir.path() + "/log" + std::to_string(w));
      const pid_t pid = ::fork();
      REQUIRE(pid >= 0);
      if (pid == 0) churn(root, w, logs.back());
      pids.push_back(pid);
    }
    // Killed one after another at random moments, so that some die while others go on.
    for (const pid_t pid : pids) {
      ::usleep(static_cast<useconds_t>(100'000 + rng() % 300'000));
      ::kill(pid, SIGKILL);
    }
    for (const pid_t pid : pids) {
      int status = 0;
      REQUIRE(::waitpid(pid, &status, 0) == pid);
      INFO("round " << round << ": a process ended by itself with code "
                    << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
      CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    }
    session check(io_backend::io_uring, {.root = root});
    int checked = 0, wrong = 0;
    for (int w = 0; w < processes; ++w) {
      const auto allow = replay(logs[static_cast<std::size_t>(w)]);
      check.run([&]() -> asio::awaitable<void> {
        for (const auto& [key, values] : allow.values) {
          const auto got = co_await check.store->get(key);
          const std::string seen = got.is_hit() ? text_of(got) : "";
          ++checked;
          if (!values.contains(seen)) {
            ++wrong;
            UNSCOPED_INFO(key << " holds '" << seen << "'");
          }
        }
      });
    }
    INFO("round " << round);
    CHECK(checked > 0);
    CHECK(wrong == 0);
    CHECK(check.store->disk_metrics().corrupt_entries == 0);
    // The next round starts over on the same root with new logs.
    for (const auto& l : logs)
      fs::remove(l);
  }
}
