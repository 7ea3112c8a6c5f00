// larder-disk-bench: disk_store against the seed's blocking design and against fio, in one
// process and one run, so that every figure is a ratio against a baseline measured beside it.
// Put and get also run a bare io_uring loop over the same files (baselines/bare_uring.hpp):
// what any io_uring design of this layout could reach here, with nothing of a store around it.
//
//   put     throughput at 4 KiB, 64 KiB and 1 MiB (fio's sequential write at 1 MiB)
//   flush   time to make 2,000 fresh 4 KiB entries durable
//   get     4 KiB get throughput, and get p99 at queue depth 16 beside fio's 4 KiB randread
//   index   heap bytes per indexed entry beyond its key, after a reopen
//   open    (not in the default list) open to first get and to a complete index, at
//           --index-entries entries, page cache warm and dropped (bench/disk_open.cpp)
//   peers   (not in the default list) beside LMDB and RocksDB: put-to-durable, 4 KiB gets,
//           open to the first get (bench/disk_peers.cpp)
//
// Files go to a fresh directory under --dir (default: $TMPDIR or /tmp), removed afterwards
// unless --keep (scripts/strace-disk-check needs the tree to tell the store's paths apart).
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "baselines/bare_uring.hpp"
#include "baselines/blocking_disk.hpp"
#include "disk_open.hpp"
#include "disk_peers.hpp"
#include "larder/disk_store.hpp"
#include "larder/io_engine.hpp"
#include "support/disk_harness.hpp"
#include "support/fio.hpp"

namespace {

using namespace larder::bench;
using clock_type = std::chrono::steady_clock;

struct config {
  std::string dir;
  std::string sections = "put,flush,get,index";
  std::string fio = "fio";
  unsigned threads = 2;
  unsigned inflight = 16;
  std::uint64_t put_mib = 256;
  unsigned small_puts = 20000;
  unsigned flush_entries = 2000;
  unsigned get_entries = 20000;
  unsigned get_ops = 200000;
  unsigned index_entries = 100000;
  unsigned peer_entries = 50000;
  unsigned rounds = 3;       // put and get: runs per design, taking turns; the median counts
  unsigned max_workers = 0;  // io_engine_options::max_workers; 0: the default
  bool larder_only = false;
  bool keep = false;
  bool wants(const char* s) const { return sections.find(s) != std::string::npos; }
  larder::io_engine_options io() const {
    larder::io_engine_options o;
    if (max_workers) o.max_workers = max_workers;
    return o;
  }
};

std::string human_rate(double bytes_per_second) {
  char out[32];
  std::snprintf(out, sizeof out, "%.0f MiB/s", bytes_per_second / 1048576.0);
  return out;
}

void put_section(const config& c, scratch& dirs) {
  std::printf(
      "\n## put throughput (%u threads; larder: %u coroutines per thread; median of %u "
      "rounds, the designs taking turns, each run in a fresh directory after a sync)\n",
      c.threads, c.inflight, c.rounds);
  std::printf("%-8s %8s %12s %12s %9s %12s %9s %14s %7s\n", "size", "puts", "blocking",
              "bare uring", "vs block", "larder", "vs block", "fio seq write", "vs fio");
  for (const std::size_t size :
       {std::size_t{4} << 10, std::size_t{64} << 10, std::size_t{1} << 20}) {
    const auto count = static_cast<unsigned>(
        size == 4096 ? c.small_puts : std::max<std::uint64_t>(64, (c.put_mib << 20) / size));
    const auto keys = make_keys("put", count);
    const auto values = make_values(size, 8);
    // Turns, so that the page cache's writeback and the file system's state weigh on both
    // designs alike; a sync before each run, so that no run pays for another's dirty pages.
    std::vector<double> blocking_runs, bare_runs, larder_runs;
    for (unsigned round = 0; round < c.rounds; ++round) {
      // Each run's files are removed after it (untimed), so that a 1 MiB round does not
      // run out of space on a small file system.
      if (!c.larder_only) {
        ::sync();
        const auto blocking_dir = dirs.fresh("blocking");
        {
          larder::bench::blocking_disk store(blocking_dir);
          blocking_runs.push_back(timed_bytes(count, size, [&] {
            run_threads(c.threads, count, [&](unsigned i) { store.put(keys[i], values[i % 8]); });
          }));
        }
        scratch::drop(blocking_dir);
        ::sync();
        const auto bare_dir = dirs.fresh("bare");
        {
          larder::bench::bare_uring bare(bare_dir);
          bare_runs.push_back(
              timed_bytes(count, size, [&] { bare.put_all(c.threads, c.inflight, keys, values); }));
        }
        scratch::drop(bare_dir);
      }
      ::sync();
      const auto larder_dir = dirs.fresh("larder");
      {
        larder_disk run(larder_dir, c.io());
        larder_runs.push_back(timed_bytes(count, size, [&] {
          run.workers(c.threads, c.inflight, count, [&](unsigned i) -> asio::awaitable<void> {
            co_await run.store().put(keys[i], values[i % 8]);
          });
        }));
        run.check_faults("put");
      }
      if (!c.keep) scratch::drop(larder_dir);
    }
    ::sync();
    const double blocking = median(blocking_runs);
    const double bare = median(bare_runs);
    const double larder = median(larder_runs);
    std::string fio_cell = "-", fio_ratio = "-";
    if (size == (1u << 20) && !c.larder_only) {
      const auto dir = dirs.fresh("fio");
      const auto args = "--name=seqwrite --directory=" + dir +
                        " --rw=write --bs=1M --size=" + std::to_string(count) +
                        "M --ioengine=io_uring --iodepth=16";
      if (auto r = run_fio(c.fio, args, "write")) {
        fio_cell = human_rate(r->bytes_per_second);
        fio_ratio = std::to_string(static_cast<int>(100 * larder / r->bytes_per_second)) + "%";
      }
      ::sync();
    }
    const auto ratio = [&](double x) { return c.larder_only ? 0.0 : x / blocking; };
    std::printf("%-8s %8u %12s %12s %8.2fx %12s %8.2fx %14s %7s\n", size_label(size).c_str(), count,
                c.larder_only ? "-" : human_rate(blocking).c_str(),
                c.larder_only ? "-" : human_rate(bare).c_str(), ratio(bare),
                human_rate(larder).c_str(), ratio(larder), fio_cell.c_str(), fio_ratio.c_str());
  }
}

void flush_section(const config& c, scratch& dirs) {
  std::printf("\n## flush of %u fresh 4 KiB entries (median of 3)\n", c.flush_entries);
  const auto values = make_values(4096, 8);
  std::vector<double> larder_ms, blocking_ms;
  for (int round = 0; round < 3; ++round) {
    const auto keys = make_keys("flush" + std::to_string(round), c.flush_entries);
    if (!c.larder_only) {
      larder::bench::blocking_disk store(dirs.fresh("blocking"));
      run_threads(c.threads, c.flush_entries,
                  [&](unsigned i) { store.put(keys[i], values[i % 8]); });
      const auto start = clock_type::now();
      store.flush();
      blocking_ms.push_back(ms_since(start));
    }
    larder_disk run(dirs.fresh("larder"), c.io());
    run.workers(c.threads, c.inflight, c.flush_entries, [&](unsigned i) -> asio::awaitable<void> {
      co_await run.store().put(keys[i], values[i % 8]);
    });
    const auto start = clock_type::now();
    run.flush();
    larder_ms.push_back(ms_since(start));
    run.check_faults("flush");
  }
  const double larder = median(larder_ms);
  if (c.larder_only) {
    std::printf("larder %.1f ms\n", larder);
    return;
  }
  const double blocking = median(blocking_ms);
  std::printf(
      "blocking (fdatasync on up to 16 threads) %.1f ms, larder %.1f ms: %.2f of the "
      "baseline's time\n",
      blocking, larder, larder / blocking);
}

void get_section(const config& c, scratch& dirs) {
  std::printf(
      "\n## get: %u entries of 4 KiB, %u random gets, %u threads (median of %u rounds, "
      "the designs taking turns)\n",
      c.get_entries, c.get_ops, c.threads, c.rounds);
  const auto keys = make_keys("get", c.get_entries);
  const auto values = make_values(4096, 8);
  std::vector<unsigned> picks(c.get_ops);
  std::mt19937 rng(7);
  for (auto& p : picks)
    p = static_cast<unsigned>(rng() % c.get_entries);

  // All stores are filled first; then the designs take turns over the same gets.
  larder::bench::blocking_disk blocking_store(dirs.fresh("blocking"));
  std::optional<larder::bench::bare_uring> bare_store;
  if (!c.larder_only) {
    run_threads(c.threads, c.get_entries,
                [&](unsigned i) { blocking_store.put(keys[i], values[i % 8]); });
    bare_store.emplace(dirs.fresh("bare"));
    bare_store->put_all(c.threads, c.inflight, keys, values);
  }
  larder_disk run(dirs.fresh("larder"), c.io());
  run.workers(c.threads, c.inflight, c.get_entries, [&](unsigned i) -> asio::awaitable<void> {
    co_await run.store().put(keys[i], values[i % 8]);
  });
  ::sync();
  std::vector<double> blocking_runs, bare_runs, larder_runs;
  for (unsigned round = 0; round < c.rounds; ++round) {
    if (!c.larder_only) {
      bare_runs.push_back(timed_ops(
          c.get_ops, [&] { bare_store->get_all(c.threads, c.inflight, keys, picks, 4096); }));
      std::atomic<unsigned> misses{0};
      blocking_runs.push_back(timed_ops(c.get_ops, [&] {
        run_threads(c.threads, c.get_ops, [&](unsigned i) {
          if (blocking_store.get(keys[picks[i]]).empty()) ++misses;
        });
      }));
      if (misses) std::printf("blocking baseline missed %u gets\n", misses.load());
    }
    larder_runs.push_back(timed_ops(c.get_ops, [&] {
      run.workers(c.threads, c.inflight, c.get_ops, [&](unsigned i) -> asio::awaitable<void> {
        auto found = co_await run.store().get(keys[picks[i]]);
        if (!found.is_hit()) run.note_miss();
      });
    }));
  }
  const double blocking = median(blocking_runs);
  const double larder = median(larder_runs);
  if (c.larder_only) {
    std::printf("throughput: larder %.0f gets/s\n", larder);
  } else {
    const double bare = median(bare_runs);
    std::printf(
        "throughput: blocking %.0f gets/s, bare io_uring %.0f gets/s (%.2fx), larder %.0f "
        "gets/s: %.2fx\n",
        blocking, bare, bare / blocking, larder, larder / blocking);
  }

  // Latency at queue depth 16: one thread, 16 gets in flight, as fio's iodepth=16.
  const auto lat =
      run.latencies(16, std::min(c.get_ops, 50000u), [&](unsigned i) { return keys[picks[i]]; });
  run.check_faults("get");
  std::printf("larder get at qd16: p50 %.1f us, p99 %.1f us", lat.p50_ns / 1e3, lat.p99_ns / 1e3);
  if (!c.larder_only) {
    const auto dir = dirs.fresh("fio");
    const auto args = "--name=randread --directory=" + dir +
                      " --rw=randread --bs=4k --size=" + std::to_string(c.get_entries * 4) +
                      "k --ioengine=io_uring --iodepth=16 --time_based --runtime=3";
    if (auto r = run_fio(c.fio, args, "read"); r && r->p99_ns > 0)
      std::printf("; fio 4 KiB randread (page cache) p99 %.1f us: %.2fx fio's", r->p99_ns / 1e3,
                  lat.p99_ns / r->p99_ns);
  }
  std::printf("\n");
}

void index_section(const config& c, scratch& dirs) {
  std::printf("\n## index memory: %u entries, 32-byte keys, reopened\n", c.index_entries);
  const auto root = dirs.fresh("index");
  auto keys = make_hex_keys(c.index_entries);
  const auto values = make_values(16, 8);
  {
    larder_disk run(root, c.io());
    run.workers(c.threads, c.inflight, c.index_entries, [&](unsigned i) -> asio::awaitable<void> {
      co_await run.store().put(keys[i], values[i % 8]);
    });
    run.flush();
  }
  keys.clear();
  keys.shrink_to_fit();
  malloc_trim(0);
  const auto before = heap_in_use();
  const auto rss_before = resident_bytes();
  larder_disk run(root, c.io());
  // What the rebuild allocated and freed again (listings, the scan's findings) goes back to
  // the system, as a long-running process's allocator would eventually give it.
  malloc_trim(0);
  const auto after = heap_in_use();
  const auto rss_after = resident_bytes();
  const auto held = static_cast<double>(run.store().metrics().entries);
  const double heap = static_cast<double>(after) - static_cast<double>(before);
  const double rss = static_cast<double>(rss_after) - static_cast<double>(rss_before);
  std::printf(
      "entries %.0f, heap growth %.1f MiB, %.1f bytes per entry beyond the key; "
      "resident growth %.1f MiB, %.1f bytes per entry with its 32-byte key\n",
      held, heap / 1048576.0, heap / held - 32, rss / 1048576.0, rss / held);
}

}  // namespace

int main(int argc, char** argv) {
  config c;
  CLI::App app{"larder-disk-bench: disk_store against the seed's blocking design and fio"};
  app.add_option("--dir", c.dir, "parent of the scratch directory (default $TMPDIR or /tmp)");
  app.add_option("--sections", c.sections, "comma-separated: put,flush,get,index,open,peers");
  app.add_option("--fio", c.fio, "the fio executable");
  app.add_option("--threads", c.threads, "threads for both designs")->check(CLI::Range(1, 64));
  app.add_option("--inflight", c.inflight, "larder coroutines per thread")
      ->check(CLI::Range(1, 4096));
  app.add_option("--put-mib", c.put_mib, "MiB written per large-value put run");
  app.add_option("--small-puts", c.small_puts, "puts in the 4 KiB run");
  app.add_option("--flush-entries", c.flush_entries, "entries per flush");
  app.add_option("--get-entries", c.get_entries, "entries read back by the get section");
  app.add_option("--get-ops", c.get_ops, "gets per design");
  app.add_option("--index-entries", c.index_entries, "entries in the index section");
  app.add_option("--peer-entries", c.peer_entries, "entries in the peers section");
  app.add_option("--rounds", c.rounds, "put and get runs per design (median)")
      ->check(CLI::Range(1, 99));
  app.add_option("--max-workers", c.max_workers, "io-wq worker bound of larder's engine");
  app.add_flag("--larder-only", c.larder_only, "skip the baselines and fio (for strace)");
  app.add_flag("--keep", c.keep, "leave the scratch directory in place");
  CLI11_PARSE(app, argc, argv);

  scratch dirs(c.dir, c.keep);
  std::printf("# larder-disk-bench in %s (io backend %s)\n", dirs.root().c_str(),
              larder_disk::backend_name().c_str());
  if (c.wants("put")) put_section(c, dirs);
  if (c.wants("flush")) flush_section(c, dirs);
  if (c.wants("get")) get_section(c, dirs);
  if (c.wants("index")) index_section(c, dirs);
  if (c.wants("open")) open_section({c.index_entries, c.rounds, c.io()}, dirs);
  if (c.wants("peers"))
    peers_section({c.peer_entries, c.get_ops, c.threads, c.inflight, c.rounds, c.io()}, dirs);
  return 0;
}
