#include "disk_open.hpp"

#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <vector>

#include "larder/disk_store.hpp"

namespace larder::bench {

namespace {
using clock_type = std::chrono::steady_clock;
}  // namespace

bool drop_caches() {
  ::sync();
  std::ofstream out("/proc/sys/vm/drop_caches");
  out << "3\n";
  out.flush();
  return static_cast<bool>(out);
}

open_times reopen(const std::string& root, const io_engine_options& io_options,
                  const std::string& key, bool use_saved) {
  asio::io_context io;
  auto engine = io_engine::create(io, io_options);
  disk_store_options options;
  options.root = root;
  options.max_bytes = 64ull << 30;
  options.use_saved_index = use_saved;
  open_times t;
  std::unique_ptr<disk_store> store;
  const auto start = clock_type::now();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto opened = co_await disk_store::open(engine, options);
        if (!opened) {
          std::fprintf(stderr, "open failed: %s\n", opened.error().message().c_str());
          std::exit(1);
        }
        t.open_ms = ms_since(start);
        store = std::move(*opened);
        t.hit = (co_await store->get(key)).is_hit();
        t.first_get_ms = ms_since(start);
        (void)co_await store->index_ready();
        t.indexed_ms = ms_since(start);
      },
      asio::detached);
  io.run();
  t.entries = store->metrics().entries;
  t.loaded = store->disk_metrics().index_loaded_entries;
  store.reset();
  engine.reset();
  return t;
}

void open_section(const open_config& c, scratch& dirs) {
  std::printf(
      "\n## open: %u entries of 4 KiB, 32-byte keys; median of %u reopens each,\n"
      "## the scan of every file and the saved index taking turns\n",
      c.entries, c.rounds);
  const auto root = dirs.fresh("open");
  const auto keys = make_hex_keys(c.entries);
  {
    larder_disk run(root, c.io);
    const auto values = make_values(4096, 8);
    run.workers(2, 16, c.entries, [&](unsigned i) -> asio::awaitable<void> {
      co_await run.store().put(keys[i], values[i % 8]);
    });
    run.flush();
    // Past the margin within which a save does not vouch for a directory just changed.
    ::usleep(200'000);
    run.save_index();
  }
  std::printf("%-6s %-6s %10s %14s %14s %10s %10s\n", "cache", "index", "open ms", "first get ms",
              "indexed ms", "entries", "from save");
  for (const bool cold : {false, true}) {
    struct figures {
      std::vector<double> open, first, indexed;
      open_times last;
    } by[2];  // [0]: scan, [1]: saved index
    bool refused = false;
    for (unsigned r = 0; r < c.rounds && !refused; ++r)
      for (const bool saved : {false, true}) {
        if (cold && !drop_caches()) {
          std::printf("%-6s not measured: /proc/sys/vm/drop_caches refused (not root?)\n", "cold");
          refused = true;
          break;
        }
        auto& f = by[saved];
        f.last = reopen(root, c.io, keys[(r * 7919u) % keys.size()], saved);
        const bool loaded_right = saved ? f.last.loaded == c.entries : f.last.loaded == 0;
        if (!f.last.hit || f.last.entries != c.entries || !loaded_right) {
          std::fprintf(stderr,
                       "open: the reopened store had %llu entries (%llu from the saved index) and "
                       "%s its key\n",
                       static_cast<unsigned long long>(f.last.entries),
                       static_cast<unsigned long long>(f.last.loaded),
                       f.last.hit ? "found" : "missed");
          std::exit(1);
        }
        f.open.push_back(f.last.open_ms);
        f.first.push_back(f.last.first_get_ms);
        f.indexed.push_back(f.last.indexed_ms);
      }
    for (const bool saved : {false, true}) {
      const auto& f = by[saved];
      if (f.open.empty()) continue;
      std::printf("%-6s %-6s %10.1f %14.1f %14.1f %10llu %10llu\n", cold ? "cold" : "warm",
                  saved ? "saved" : "scan", median(f.open), median(f.first), median(f.indexed),
                  static_cast<unsigned long long>(f.last.entries),
                  static_cast<unsigned long long>(f.last.loaded));
    }
    if (!by[0].indexed.empty() && !by[1].indexed.empty())
      std::printf("%-6s index complete %.1fx sooner from the saved index\n", cold ? "cold" : "warm",
                  median(by[0].indexed) / median(by[1].indexed));
  }
}

}  // namespace larder::bench
