// open() returns before the index is rebuilt: gets are served from the entries' paths while
// the scan runs, removals of keys it has not reached yet stay removed, invalidate_prefix
// still matches entries written before the open, puts made during the scan count towards
// the bound once it is enforced, and the scan removes only what can never be an entry.
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
#include "support/io_runner.hpp"

using namespace larder;
using testing::pool;
using testing::uring;
namespace fs = std::filesystem;

namespace {

// Enough entries, scanned one file at a time, that the scan is still running when the
// first operations after open complete (each test checks that it was).
constexpr int entry_count = 4000;

std::string key_of(int i) {
  return "k/" + std::to_string(i);
}
std::string value_of(int i) {
  return "value of " + std::to_string(i);
}

// Fills a directory with entry_count entries through a store that is then closed.
void fill(const std::string& root, io_backend backend) {
  asio::io_context io;
  auto engine = testing::make_engine(io, backend);
  auto opened = testing::open_now(io, engine, {.root = root});
  REQUIRE(opened.has_value());
  auto& s = **opened;
  bool ok = true;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < entry_count; ++i)
          if (co_await s.put(key_of(i), blob::copy_of(value_of(i)))) ok = false;
        if (co_await s.flush()) ok = false;
      },
      asio::detached);
  io.run();
  REQUIRE(ok);
}

// Opens `options.root` and runs `body` with the store at once, the scan beside it.
template <class F>
void with_open_store(io_backend backend, disk_store_options options, F body) {
  asio::io_context io;
  auto engine = testing::make_engine(io, backend);
  std::unique_ptr<disk_store> store;
  bool opened_ok = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto opened = co_await disk_store::open(engine, options);
        if (!opened) co_return;
        opened_ok = true;
        store = std::move(*opened);
        co_await body(*store);
      },
      asio::detached);
  io.run();
  REQUIRE(opened_ok);
}

// Each body stores its checks here and asserts after io.run(): an assertion that throws
// inside a detached coroutine would end the run with the exception, not the report.
struct findings {
  bool open_before_index = false;
  bool hit_right = false;
  bool miss_right = false;
  bool indexed_before_erase = false;
  bool erased = false;
  bool erased_still_scanning = false;
  bool early_erased = false;
  result<std::uint64_t> invalidated = 0;
  bool complete_after_prefix = false;
  bool erased_stays_gone = false;
  std::uint64_t entries = 0;
};

}  // namespace

TEMPLATE_TEST_CASE("disk_store: open serves gets at once and removals before the index hold",
                   "[disk][background]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill(root, B);

  // The first key in fan-out directory 00 (scanned first); not under "k/1".
  std::string early_key;
  {
    asio::io_context io;
    auto engine = testing::make_engine(io, B);
    auto opened = testing::open_now(io, engine, {.root = root});
    REQUIRE(opened.has_value());
    unsigned best = 256;
    for (int i = 2000; i < entry_count - 1; ++i) {
      const auto path = (*opened)->path_for(key_of(i));
      const auto dir = std::stoul(path.substr(root.size() + 1, 2), nullptr, 16);
      if (dir < best) best = dir, early_key = key_of(i);
    }
  }
  findings f;
  with_open_store(
      B, {.root = root, .scan_parallelism = 1}, [&](disk_store& s) -> asio::awaitable<void> {
        f.open_before_index = !s.index_complete();
        const auto hit = co_await s.get(key_of(7));
        f.hit_right = hit.is_hit() && hit.value().view() == value_of(7);
        const auto miss = co_await s.get("k/absent");
        f.miss_right = miss.is_miss();
        // The scan, one file at a time, has only begun: this key is not indexed.
        for (const auto& e : s.entries())
          if (e.key == key_of(entry_count - 1)) f.indexed_before_erase = true;
        const auto erased = co_await s.erase(key_of(entry_count - 1));
        f.erased = erased && *erased;
        f.erased_still_scanning = !s.index_complete();
        // A key in the first directory scanned: after a moment the scan has read
        // its file, so only the removal's record keeps the merge from indexing it.
        asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
        co_await pause.async_wait(asio::use_awaitable);
        const auto early = co_await s.erase(early_key);
        f.early_erased = early && *early && !s.index_complete();
        // "k/1", "k/10".."k/19", "k/100".."k/199", "k/1000".."k/1999".
        f.invalidated = co_await s.invalidate_prefix("k/1");
        f.complete_after_prefix = s.index_complete();
        const auto after = co_await s.get(key_of(entry_count - 1));
        f.erased_stays_gone = after.is_miss();
        f.entries = s.metrics().entries;
      });
  CHECK(f.open_before_index);
  CHECK(f.hit_right);
  CHECK(f.miss_right);
  CHECK_FALSE(f.indexed_before_erase);
  CHECK(f.erased);
  CHECK(f.erased_still_scanning);
  CHECK(f.early_erased);
  REQUIRE(f.invalidated.has_value());
  CHECK(*f.invalidated == 1111);
  CHECK(f.complete_after_prefix);
  CHECK(f.erased_stays_gone);
  CHECK(f.entries == entry_count - 2 - 1111);

  // And on disk: a fresh open, waited to its index, finds the same.
  std::uint64_t reopened_entries = 0;
  bool gone = false, kept = false;
  with_open_store(B, {.root = root}, [&](disk_store& s) -> asio::awaitable<void> {
    (void)co_await s.index_ready();
    reopened_entries = s.metrics().entries;
    const auto erased = co_await s.get(key_of(entry_count - 1));
    const auto invalidated = co_await s.get(key_of(1500));
    const auto other = co_await s.get(key_of(2500));
    const auto early = co_await s.get(early_key);
    gone = erased.is_miss() && invalidated.is_miss() && early.is_miss();
    kept = other.is_hit();
  });
  CHECK(reopened_entries == entry_count - 2 - 1111);
  CHECK(gone);
  CHECK(kept);
}

TEMPLATE_TEST_CASE("disk_store: puts during the scan count towards the bound enforced after it",
                   "[disk][background]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill(root, B);
  std::uint64_t full_bytes = 0;
  with_open_store(B, {.root = root}, [&](disk_store& s) -> asio::awaitable<void> {
    (void)co_await s.index_ready();
    full_bytes = s.metrics().bytes;
  });
  REQUIRE(full_bytes > 0);

  // Room for about half of what is there: the scan's merge must evict the older half, and
  // keep what was put while it ran (the most recent).
  const std::uint64_t bound = full_bytes / 2;
  bool during = false, fresh_kept = true, put_ok = true;
  std::uint64_t bytes_after = 0, evictions = 0;
  with_open_store(B, {.root = root, .max_bytes = bound, .scan_parallelism = 1},
                  [&](disk_store& s) -> asio::awaitable<void> {
                    for (int i = 0; i < 50; ++i)
                      if (co_await s.put("fresh/" + std::to_string(i), blob::copy_of("new")))
                        put_ok = false;
                    during = !s.index_complete();
                    if (co_await s.index_ready()) put_ok = false;
                    for (int i = 0; i < 50; ++i) {
                      const auto got = co_await s.get("fresh/" + std::to_string(i));
                      if (!got.is_hit()) fresh_kept = false;
                    }
                    bytes_after = s.metrics().bytes;
                    evictions = s.metrics().evictions;
                  });
  CHECK(put_ok);
  CHECK(during);
  CHECK(fresh_kept);
  CHECK(bytes_after <= bound);
  CHECK(evictions > 0);
}

TEMPLATE_TEST_CASE("disk_store: the scan removes only what can never be an entry",
                   "[disk][background]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  std::string big_path, small_path;
  with_open_store(B, {.root = root}, [&](disk_store& s) -> asio::awaitable<void> {
    CHECK_FALSE(co_await s.put("big", blob::copy_of(std::string(4096, 'b'))));
    CHECK_FALSE(co_await s.put("small", blob::copy_of("s")));
    CHECK_FALSE(co_await s.flush());
    big_path = s.path_for("big");
    small_path = s.path_for("small");
  });

  // A put of this process still writing its temp, one of a process long gone, and a file
  // someone else keeps in a fan-out directory.
  const auto live_temp = small_path + ".tmp." + std::to_string(::getpid()) + ".1";
  const auto dead_temp = small_path + ".tmp.999999999.1";
  const auto foreign = fs::path(small_path).parent_path() / "notes.tmp.txt";
  testing::write_file(live_temp, "half written");
  testing::write_file(dead_temp, "never finished");
  testing::write_file(foreign.string(), "not ours");

  // An opener with limits below the stored entry's: the limits bound its puts, they do not
  // make an existing entry invalid.
  std::uint64_t entries = 0, temp_removed = 0, corrupt = 0, verified = 0;
  bool big_served = false;
  with_open_store(B, {.root = root, .max_value_size = 16, .max_key_size = 2},
                  [&](disk_store& s) -> asio::awaitable<void> {
                    (void)co_await s.index_ready();
                    entries = s.metrics().entries;
                    const auto d = s.disk_metrics();
                    temp_removed = d.temp_files_removed;
                    corrupt = d.corrupt_entries;
                    const auto big = co_await s.get("big");
                    big_served = big.is_hit() && big.value().size() == 4096;
                    const auto report = co_await s.verify(true);
                    verified = report.ok;
                  });
  CHECK(entries == 2);
  CHECK(temp_removed == 1);
  CHECK(corrupt == 0);
  CHECK(big_served);
  CHECK(verified == 2);
  CHECK(fs::exists(big_path));
  CHECK(fs::exists(small_path));
  CHECK(fs::exists(live_temp));
  CHECK_FALSE(fs::exists(dead_temp));
  CHECK(fs::exists(foreign));
}

TEMPLATE_TEST_CASE("disk_store: a store closed during its scan evicts nothing after it",
                   "[disk][background]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill(root, B);
  auto count_entries = [&] {
    std::size_t n = 0;
    for (const auto& f : fs::recursive_directory_iterator(root))
      if (f.path().extension() == ".bin") ++n;
    return n;
  };
  REQUIRE(count_entries() == entry_count);

  // A bound far below what is there: had the scan merged for a closed store, its eviction
  // would remove nearly every file, perhaps under another opener of the directory.
  bool closed_early = false;
  {
    asio::io_context io;
    auto engine = testing::make_engine(io, B);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          // Named, not a braced temporary in the co_await: GCC 12 destroys that twice.
          const disk_store_options options{.root = root, .max_bytes = 4096, .scan_parallelism = 1};
          auto opened = co_await disk_store::open(engine, options);
          if (!opened) co_return;
          // Closed once the scan has read some entries (so that a merge would have had
          // something to evict) but long before it is done.
          asio::steady_timer tick(co_await asio::this_coro::executor);
          while ((*opened)->disk_metrics().bytes_read < 64 * 1024) {
            tick.expires_after(std::chrono::microseconds(200));
            co_await tick.async_wait(asio::use_awaitable);
          }
          closed_early = !(*opened)->index_complete();
          opened->reset();
        },
        asio::detached);
    io.run();
  }
  CHECK(closed_early);
  CHECK(count_entries() == entry_count);
}

TEMPLATE_TEST_CASE("disk_store: index_on_demand builds the index only once something needs it",
                   "[disk][background]", uring, pool) {
  constexpr auto B = TestType::value;
  testing::temp_dir dir;
  const auto root = dir.path() + "/cache";
  fill(root, B);
  bool hit = false, idle_before = false, complete_after = false;
  std::uint64_t read_before = 0, entries_after = 0;
  disk_store_options options{.root = root};
  options.index_on_demand = true;
  with_open_store(B, options, [&](disk_store& s) -> asio::awaitable<void> {
    const auto got = co_await s.get(key_of(11));
    hit = got.is_hit() && got.value().view() == value_of(11);
    // Time for a scan to read plenty, had one started.
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
    co_await t.async_wait(asio::use_awaitable);
    idle_before = !s.index_complete();
    read_before = s.disk_metrics().bytes_read;
    const auto ready = co_await s.index_ready();
    complete_after = !ready && s.index_complete();
    entries_after = s.metrics().entries;
  });
  CHECK(hit);
  CHECK(idle_before);
  CHECK(read_before < 4096);  // the one entry the get read
  CHECK(complete_after);
  CHECK(entries_after == entry_count);
}
