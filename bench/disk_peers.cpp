#include "disk_peers.hpp"

#include <atomic>
#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "disk_open.hpp"
#include "larder/disk_store.hpp"
#include "peers/peer.hpp"

namespace larder::bench {

namespace {

using clock_type = std::chrono::steady_clock;

struct round_figures {
  double put_durable_ms = 0;
  double gets_per_s = 0;
  double warm_open_ms = 0, warm_first_ms = 0, warm_indexed_ms = 0;
  double cold_open_ms = 0, cold_first_ms = 0, cold_indexed_ms = 0;
  bool cold = false;
};

struct workload {
  std::vector<std::string> keys;
  std::vector<std::string> values;  // 8 distinct 4 KiB values, as the other sections use
  std::vector<blob> blobs;
  std::vector<unsigned> picks;  // the keys the gets read, uniformly at random
};

// `threads` threads share `ops` reads of `read(i)`; reads per second.
double threaded_gets(unsigned threads, unsigned ops, const std::function<void()>& begin,
                     const std::function<bool(unsigned)>& read, const std::function<void()>& end) {
  std::atomic<unsigned> next{0};
  std::atomic<unsigned> misses{0};
  const auto start = clock_type::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      begin();
      for (unsigned i = next++; i < ops; i = next++)
        if (!read(i)) ++misses;
      end();
    });
  for (auto& t : pool)
    t.join();
  const double per_s = ops / (ms_since(start) / 1000.0);
  if (misses) {
    std::fprintf(stderr, "peers: %u of %u reads missed\n", misses.load(), ops);
    std::exit(1);
  }
  return per_s;
}

round_figures run_peer(kv_peer& peer, const workload& w, const peers_config& c,
                       const std::string& dir) {
  round_figures f;
  peer.open(dir);
  auto start = clock_type::now();
  peer.put_durable(w.keys, w.values);
  f.put_durable_ms = ms_since(start);
  f.gets_per_s = threaded_gets(
      c.threads, c.get_ops, [&] { peer.begin_reader(); },
      [&](unsigned i) {
        std::string out;
        return peer.get(w.keys[w.picks[i]], out) && out.size() == 4096;
      },
      [&] { peer.end_reader(); });
  peer.close();
  for (const bool cold : {false, true}) {
    if (cold && !(f.cold = drop_caches())) break;
    start = clock_type::now();
    peer.open(dir);
    const double opened = ms_since(start);
    std::string out;
    peer.begin_reader();
    const bool hit = peer.get(w.keys[w.picks[0]], out);
    peer.end_reader();
    const double first = ms_since(start);
    if (!hit) {
      std::fprintf(stderr, "peers: %s missed after reopening\n", peer.name());
      std::exit(1);
    }
    (cold ? f.cold_open_ms : f.warm_open_ms) = opened;
    (cold ? f.cold_first_ms : f.warm_first_ms) = first;
    (cold ? f.cold_indexed_ms : f.warm_indexed_ms) = first;  // its index is the file itself
    peer.close();
  }
  return f;
}

round_figures run_larder(const workload& w, const peers_config& c, const std::string& dir) {
  round_figures f;
  {
    larder_disk run(dir, c.io);
    const auto start = clock_type::now();
    run.workers(c.threads, c.inflight, static_cast<unsigned>(w.keys.size()),
                [&](unsigned i) -> asio::awaitable<void> {
                  co_await run.store().put(w.keys[i], w.blobs[i % w.blobs.size()]);
                });
    run.flush();
    f.put_durable_ms = ms_since(start);
    const auto get_start = clock_type::now();
    run.workers(c.threads, c.inflight, c.get_ops, [&](unsigned i) -> asio::awaitable<void> {
      auto got = co_await run.store().get(w.keys[w.picks[i]]);
      if (!got.is_hit() || got.value().size() != 4096) run.note_miss();
    });
    f.gets_per_s = c.get_ops / (ms_since(get_start) / 1000.0);
    run.check_faults("peers get");
    // What a server does at shutdown (not timed: the peers' close is not either). Its
    // directories must be older than the save's margin to be vouched for.
    ::usleep(200'000);
    run.save_index();
  }
  for (const bool cold : {false, true}) {
    if (cold && !(f.cold = drop_caches())) break;
    const auto t = reopen(dir, c.io, w.keys[w.picks[0]], true);
    if (!t.hit || t.entries != w.keys.size()) {
      std::fprintf(stderr, "peers: larder reopened with %llu entries, %s\n",
                   static_cast<unsigned long long>(t.entries), t.hit ? "hit" : "missed");
      std::exit(1);
    }
    (cold ? f.cold_open_ms : f.warm_open_ms) = t.open_ms;
    (cold ? f.cold_first_ms : f.warm_first_ms) = t.first_get_ms;
    (cold ? f.cold_indexed_ms : f.warm_indexed_ms) = t.indexed_ms;
  }
  return f;
}

}  // namespace

void peers_section(const peers_config& c, scratch& dirs) {
  std::printf(
      "\n## peers: %u entries of 4 KiB, 32-byte keys; %u random 4 KiB reads on %u threads; "
      "median of %u rounds, the stores taking turns\n",
      c.entries, c.get_ops, c.threads, c.rounds);
  workload w;
  w.keys = make_hex_keys(c.entries);
  w.blobs = make_values(4096, 8);
  for (const auto& b : w.blobs)
    w.values.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  std::mt19937 rng(42);
  std::uniform_int_distribution<unsigned> pick(0, c.entries - 1);
  w.picks.resize(c.get_ops);
  for (auto& p : w.picks)
    p = pick(rng);

  std::vector<std::unique_ptr<kv_peer>> peers;
  for (auto make : {make_lmdb_peer, make_rocksdb_peer})
    if (auto p = make()) peers.push_back(std::move(p));
  if (peers.empty()) std::printf("(built without LMDB and RocksDB: larder alone)\n");

  std::map<std::string, std::vector<round_figures>> by;
  for (unsigned r = 0; r < c.rounds; ++r) {
    by["larder"].push_back(run_larder(w, c, dirs.fresh("peers-larder")));
    for (auto& p : peers)
      by[p->name()].push_back(run_peer(*p, w, c, dirs.fresh(std::string("peers-") + p->name())));
  }
  auto med = [&](const std::string& name, double round_figures::*field) {
    std::vector<double> v;
    for (const auto& f : by[name])
      v.push_back(f.*field);
    return median(v);
  };
  std::printf("%-8s %16s %12s %12s %14s %12s %14s\n", "store", "put+durable ms", "gets/s",
              "warm open", "warm 1st get", "cold open", "cold 1st get");
  std::vector<std::string> names{"larder"};
  for (auto& p : peers)
    names.emplace_back(p->name());
  for (const auto& n : names) {
    const bool cold = !by[n].empty() && by[n].front().cold;
    std::printf("%-8s %16.1f %12.0f %9.1f ms %11.1f ms", n.c_str(),
                med(n, &round_figures::put_durable_ms), med(n, &round_figures::gets_per_s),
                med(n, &round_figures::warm_open_ms), med(n, &round_figures::warm_first_ms));
    if (cold)
      std::printf(" %9.1f ms %11.1f ms", med(n, &round_figures::cold_open_ms),
                  med(n, &round_figures::cold_first_ms));
    std::printf("\n");
  }
  std::printf(
      "larder's index complete after %.1f ms warm, %.1f ms cold (the peers' index is "
      "their file)\n",
      med("larder", &round_figures::warm_indexed_ms),
      med("larder", &round_figures::cold_indexed_ms));
  for (std::size_t i = 1; i < names.size(); ++i)
    std::printf(
        "larder against %s: put+durable %.2fx as fast, gets %.2fx\n", names[i].c_str(),
        med(names[i], &round_figures::put_durable_ms) /
            med("larder", &round_figures::put_durable_ms),
        med("larder", &round_figures::gets_per_s) / med(names[i], &round_figures::gets_per_s));
}

}  // namespace larder::bench
