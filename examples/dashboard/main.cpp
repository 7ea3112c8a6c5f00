// dashboard: a live_table over a real SQLite database, as a live-data dashboard uses it.
//   dashboard [--duration-ms N] [--readers N] [--writers N] [--rows N] [--page-size N]
//             [--threads N] [--event-capacity N] [--ticker-ms N] [--db PATH]
//             [--group | --no-optimistic]
// Readers page through the quotes while writers update their own rows through the table
// (each checks that it reads its own write back) and an external ticker updates other
// rows straight in SQLite, which the table hears of through the update hook. A watcher
// stands for the dashboard's push channel. Prints pages, hits, fetches, invalidations,
// events, and exits 1 if any read-your-writes check failed or any operation faulted.
#include <stdlib.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "larder/json_codec.hpp"
#include "larder/live_table.hpp"
#include "larder/memory_store.hpp"
#include "sqlite_source.hpp"

namespace {

using dashboard::json;
using dashboard::sqlite_source;
using table_type = larder::live_table<sqlite_source>;
using clock_type = std::chrono::steady_clock;
constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

struct settings {
  int duration_ms = 1500, readers = 4, writers = 2, rows = 200, page_size = 20, threads = 2;
  int ticker_ms = 8;
  bool whole_group = false;   // --group: the old whole-group invalidation, as a baseline
  bool optimistic = true;     // --no-optimistic: rows mode, writes only invalidate
  int event_capacity = 1024;  // small values show the overflow path: resyncs, not stale pages
  std::string db;
};

struct tallies {
  std::atomic<std::uint64_t> page_reads{0}, row_reads{0}, checks{0}, violations{0}, faults{0};
  std::atomic<std::uint64_t> external_updates{0};
  std::mutex mutex;
  std::map<std::string, std::uint64_t> pushed;  // watcher notifications by kind
};

bool parse(int argc, char** argv, settings& s) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--group") {
      s.whole_group = true;
      continue;
    }
    if (arg == "--no-optimistic") {
      s.optimistic = false;
      continue;
    }
    if (i + 1 >= argc) return false;
    const char* v = argv[++i];
    if (arg == "--duration-ms")
      s.duration_ms = std::atoi(v);
    else if (arg == "--readers")
      s.readers = std::atoi(v);
    else if (arg == "--writers")
      s.writers = std::atoi(v);
    else if (arg == "--rows")
      s.rows = std::atoi(v);
    else if (arg == "--page-size")
      s.page_size = std::atoi(v);
    else if (arg == "--threads")
      s.threads = std::atoi(v);
    else if (arg == "--event-capacity")
      s.event_capacity = std::atoi(v);
    else if (arg == "--ticker-ms")
      s.ticker_ms = std::atoi(v);
    else if (arg == "--db")
      s.db = v;
    else
      return false;
  }
  return s.duration_ms > 0 && s.readers >= 0 && s.writers >= 0 && s.rows > 10 * s.writers &&
         s.page_size > 0 && s.threads > 0 && s.event_capacity > 0;
}

asio::awaitable<void> pause(std::chrono::microseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  (void)co_await t.async_wait(as_tuple_awaitable);
}

// Pages through the quotes at random, as dashboard viewers do.
asio::awaitable<void> reader(table_type& table, const settings& s, tallies& t,
                             clock_type::time_point end, unsigned seed) {
  std::minstd_rand rng(seed);
  const int pages = (s.rows + s.page_size - 1) / s.page_size;
  while (clock_type::now() < end) {
    const auto n = static_cast<std::uint64_t>(rng() % static_cast<unsigned>(pages));
    const auto page = co_await table.page(n);
    t.page_reads.fetch_add(1);
    if (!page || page->empty()) t.faults.fetch_add(1);
    co_await pause(std::chrono::microseconds(200));
  }
}

// Updates its own rows through the table and reads each write straight back.
asio::awaitable<void> writer(table_type& table, const settings& s, tallies& t,
                             clock_type::time_point end, int index) {
  std::int64_t volume = 0;
  while (clock_type::now() < end) {
    const std::string id = std::to_string(index * 10 + 1 + volume % 10);
    const json change{{"volume", ++volume}};
    const auto written = co_await table.patch(id, change);
    if (!written) {
      t.faults.fetch_add(1);
      continue;
    }
    const auto row = co_await table.row(id);
    const auto page =
        co_await table.page((std::stoull(id) - 1) / static_cast<unsigned>(s.page_size));
    t.row_reads.fetch_add(1);
    t.page_reads.fetch_add(1);
    t.checks.fetch_add(2);
    if (!row || !row->has_value() || (**row)["volume"] != volume) t.violations.fetch_add(1);
    const json* in_page = page ? page->find(id) : nullptr;
    if (!in_page || (*in_page)["volume"] != volume) t.violations.fetch_add(1);
    co_await pause(std::chrono::milliseconds(4));
  }
}

// Another client of the database: writes that only the update hook reports.
asio::awaitable<void> ticker(sqlite_source& db, const settings& s, tallies& t,
                             clock_type::time_point end) {
  std::minstd_rand rng(7);
  const int first = 10 * s.writers + 1;  // never a writer's row: their checks stay exact
  while (clock_type::now() < end) {
    const auto id = first + static_cast<int>(rng() % static_cast<unsigned>(s.rows - first + 1));
    const auto done = co_await db.external_update(id, 100.0 + (rng() % 10000) / 100.0);
    if (done)
      t.external_updates.fetch_add(1);
    else
      t.faults.fetch_add(1);
    co_await pause(std::chrono::milliseconds(s.ticker_ms));
  }
}

// The dashboard's push channel: what it would forward to its clients.
asio::awaitable<void> watcher(std::shared_ptr<larder::watch_channel> channel, tallies& t) {
  for (;;) {
    auto [ec, note] = co_await channel->async_receive(as_tuple_awaitable);
    if (ec) co_return;  // the table shut down
    std::lock_guard lock(t.mutex);
    ++t.pushed[larder::to_string(note.kind)];
  }
}

void print_page(const larder::row_set<json>& page, std::size_t rows) {
  std::printf("  %-6s %-8s %10s %8s\n", "id", "symbol", "price", "volume");
  for (std::size_t i = 0; i < page.rows.size() && i < rows; ++i) {
    const auto& r = page.rows[i];
    std::printf("  %-6s %-8s %10.2f %8lld\n", r.id.c_str(),
                r.record.value("symbol", std::string()).c_str(), r.record.value("price", 0.0),
                static_cast<long long>(r.record.value("volume", std::int64_t{0})));
  }
}

asio::awaitable<int> run(asio::io_context& io, const settings& s,
                         std::shared_ptr<sqlite_source> db) {
  auto ex = io.get_executor();
  auto memory = std::make_shared<larder::memory_store>(
      larder::memory_store_options{.max_entries = 10'000, .max_bytes = 64ull << 20});
  larder::any_store store(memory, "memory");
  larder::live_table_options options;
  options.cache_key = "quotes";
  options.page_size = static_cast<std::uint64_t>(s.page_size);
  if (!s.whole_group) {
    // Paged by integer id, and updates never move a row: rows mode is right here.
    options.invalidation = larder::invalidation_mode::rows;
    options.id_order = [](std::string_view a, std::string_view b) {
      return a.size() != b.size() ? a.size() < b.size() : a < b;
    };
    // SQLite returns the row each write left: the table stores it instead of a miss.
    options.optimistic_writes = s.optimistic;
  }
  auto opened = co_await table_type::open(ex, store, db, options);
  if (!opened) {
    std::fprintf(stderr, "dashboard: cannot open the table: %s\n",
                 opened.error().message().c_str());
    co_return 1;
  }
  auto& table = **opened;
  tallies t;
  asio::co_spawn(ex, watcher(table.watch(), t), asio::detached);

  const auto first = co_await table.page(0);
  if (!first) co_return 1;
  std::printf("page 0, first rows (from SQLite: a miss):\n");
  print_page(*first, 3);

  const auto end = clock_type::now() + std::chrono::milliseconds(s.duration_ms);
  const int tasks = s.readers + s.writers + 1;
  asio::experimental::concurrent_channel<void(std::error_code, bool)> done(ex, tasks);
  auto finished = [&](std::exception_ptr) { (void)done.try_send(std::error_code{}, true); };
  for (int i = 0; i < s.readers; ++i)
    asio::co_spawn(ex, reader(table, s, t, end, 1000u + static_cast<unsigned>(i)), finished);
  for (int i = 0; i < s.writers; ++i)
    asio::co_spawn(ex, writer(table, s, t, end, i), finished);
  asio::co_spawn(ex, ticker(*db, s, t, end), finished);
  for (int i = 0; i < tasks; ++i)
    (void)co_await done.async_receive(as_tuple_awaitable);

  const auto last = co_await table.page(0);
  const auto shut = co_await table.shutdown(larder::shutdown_mode::drain);
  co_await pause(std::chrono::milliseconds(5));  // the watcher reads its last notifications
  const auto m = table.metrics();
  if (last) {
    std::printf("page 0 after the run:\n");
    print_page(*last, 3);
  }
  const auto u = [](std::uint64_t v) { return static_cast<unsigned long long>(v); };
  std::printf(
      "reads:          %llu pages, %llu rows; page hits %llu, misses %llu; row hits %llu, misses "
      "%llu\n",
      u(t.page_reads), u(t.row_reads), u(m.page_hits), u(m.page_misses), u(m.row_hits),
      u(m.row_misses));
  std::printf(
      "from SQLite:    %llu fetches (%llu misses joined one), %llu fills, %llu dropped as stale\n",
      u(m.fetches), u(m.shared_fetches), u(m.fills), u(m.fills_dropped));
  std::printf("writes:         %llu through the table (%llu retries, %llu faults), %llu external\n",
              u(m.writes), u(m.write_retries), u(m.write_faults), u(t.external_updates));
  std::printf("invalidations:  %llu (%llu entries removed, %llu faults)\n", u(m.invalidations),
              u(m.entries_invalidated), u(m.invalidation_faults));
  std::printf(
      "update hook:    %llu events published, %llu lost; table consumed %llu, resyncs %llu\n",
      u(db->events_published()), u(db->events_lost()), u(m.events), u(m.resyncs));
  {
    std::lock_guard lock(t.mutex);
    std::printf("pushed:        ");
    for (const auto& [kind, n] : t.pushed)
      std::printf(" %s %llu", kind.c_str(), u(n));
    std::printf("\n");
  }
  std::printf("read-your-writes: %llu checks, %llu violations; other faults %llu; shutdown %s\n",
              u(t.checks), u(t.violations), u(t.faults), shut ? "drained" : "failed");
  const auto pct = [](std::uint64_t hits, std::uint64_t misses) {
    return hits + misses == 0 ? 0.0 : 100.0 * static_cast<double>(hits) / (hits + misses);
  };
  std::printf("invalidation:   %s; %llu by rows, %llu echoes skipped\n",
              s.whole_group ? "group" : "rows", u(m.row_invalidations), u(m.echoes_skipped));
  std::printf("optimistic:     %s; %llu rows and pages rewritten, %llu rewrites dropped\n",
              options.optimistic_writes ? "on" : "off", u(m.patches), u(m.patches_dropped));
  std::printf("page hit ratio: %.1f%%\n", pct(m.page_hits, m.page_misses));
  std::printf("row hit ratio: %.1f%%\n", pct(m.row_hits, m.row_misses));
  std::printf("read-your-writes violations: %llu\n", u(t.violations));
  const bool ok = t.violations == 0 && t.faults == 0 && shut && m.fetch_faults == 0 &&
                  m.write_faults == 0 && m.invalidation_faults == 0 && m.page_hits > 0 &&
                  m.invalidations > 0 && (m.events > 0 || t.external_updates == 0);
  co_return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  if (!parse(argc, argv, s)) {
    std::fprintf(
        stderr,
        "usage: dashboard [--duration-ms N] [--readers N] [--writers N] [--rows N]\n"
        "                 [--page-size N] [--threads N] [--event-capacity N] [--ticker-ms N]\n"
        "                 [--db PATH] [--group | --no-optimistic]\n");
    return 2;
  }
  std::string temp_dir;
  if (s.db.empty()) {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/larder-dashboard-XXXXXX";
    if (!::mkdtemp(pattern.data())) {
      std::perror("dashboard: mkdtemp");
      return 1;
    }
    temp_dir = pattern;
    s.db = temp_dir + "/quotes.db";
  }
  int status = 1;
  {
    asio::io_context io;
    auto db = sqlite_source::open(io.get_executor(), s.db, s.rows,
                                  static_cast<std::size_t>(s.event_capacity));
    if (!db) {
      std::fprintf(stderr, "dashboard: cannot open %s: %s\n", s.db.c_str(),
                   db.error().message().c_str());
      return 1;
    }
    std::printf(
        "dashboard: %d quotes in %s, pages of %d, %d readers, %d writers, 1 ticker, "
        "%d ms on %d threads\n",
        s.rows, s.db.c_str(), s.page_size, s.readers, s.writers, s.duration_ms, s.threads);
    asio::co_spawn(io, run(io, s, *db), [&](std::exception_ptr e, int rc) { status = e ? 1 : rc; });
    std::vector<std::thread> helpers;
    for (int i = 1; i < s.threads; ++i)
      helpers.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& h : helpers)
      h.join();
  }
  if (!temp_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir, ignored);
  }
  std::printf("dashboard: %s\n", status == 0 ? "ok" : "FAILED");
  return status;
}
