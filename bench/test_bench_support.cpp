// The benchmark helpers are measuring instruments: a skewed trace that is not skewed, or a
// baseline that evicts the wrong entry, would make every reported ratio wrong.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "baselines/mutex_lru.hpp"
#include "baselines/seed_store.hpp"
#include "support/belady.hpp"
#include "support/runner.hpp"
#include "support/zipf.hpp"

using namespace larder::bench;

namespace {

std::vector<std::uint64_t> histogram(const std::vector<std::uint32_t>& trace, std::uint32_t keys) {
  std::vector<std::uint64_t> counts(keys, 0);
  for (const auto id : trace)
    ++counts.at(id);
  return counts;
}

larder::blob bytes(std::size_t n) {
  return larder::blob(std::string(n, 'v'));
}

// Exhaustive search over every admission and eviction choice: the optimum by definition,
// to check Belady's greedy rule against on traces small enough to enumerate.
std::uint64_t brute_force_optimum(const std::vector<std::uint32_t>& trace, std::size_t capacity,
                                  std::size_t at, std::vector<std::uint32_t>& cache) {
  if (at == trace.size()) return 0;
  const std::uint32_t id = trace[at];
  if (std::find(cache.begin(), cache.end(), id) != cache.end())
    return 1 + brute_force_optimum(trace, capacity, at + 1, cache);
  std::uint64_t best = brute_force_optimum(trace, capacity, at + 1, cache);  // bypass
  if (cache.size() < capacity) {
    cache.push_back(id);
    best = std::max(best, brute_force_optimum(trace, capacity, at + 1, cache));
    cache.pop_back();
  } else {
    for (auto& resident : cache) {
      const std::uint32_t evicted = std::exchange(resident, id);
      best = std::max(best, brute_force_optimum(trace, capacity, at + 1, cache));
      resident = evicted;
    }
  }
  return best;
}

}  // namespace

TEST_CASE("zipf trace: rank 0 is most frequent and rank 0 / rank 1 is about 2^alpha") {
  for (const double alpha : {0.9, 1.0, 1.2}) {
    CAPTURE(alpha);
    const auto counts = histogram(zipf_trace(1000, alpha, 1'000'000), 1000);
    CHECK(std::max_element(counts.begin(), counts.end()) == counts.begin());
    const double ratio = static_cast<double>(counts[0]) / static_cast<double>(counts[1]);
    CHECK(ratio == Approx(std::pow(2.0, alpha)).epsilon(0.03));
    // Rank 0's share matches the exact probability within sampling noise.
    const zipf_distribution dist(1000, alpha);
    CHECK(static_cast<double>(counts[0]) / 1e6 == Approx(dist.probability(0)).epsilon(0.02));
    // Frequencies fall with rank over the head of the distribution.
    CHECK(counts[1] > counts[3]);
    CHECK(counts[3] > counts[15]);
    CHECK(counts[15] > counts[255]);
  }
}

TEST_CASE("zipf distribution: probabilities sum to one and follow the formula") {
  const zipf_distribution dist(100, 1.0);
  double sum = 0.0;
  for (std::uint32_t r = 0; r < 100; ++r)
    sum += dist.probability(r);
  CHECK(sum == Approx(1.0).epsilon(1e-12));
  CHECK(dist.probability(0) / dist.probability(9) == Approx(10.0).epsilon(1e-9));
  CHECK(dist.probability(100) == 0.0);
  CHECK_THROWS_AS(zipf_distribution(0, 1.0), std::invalid_argument);
}

TEST_CASE("traces are deterministic for a seed and differ between seeds") {
  CHECK(zipf_trace(10'000, 0.9, 50'000) == zipf_trace(10'000, 0.9, 50'000));
  CHECK(zipf_trace(10'000, 0.9, 50'000, 7) == zipf_trace(10'000, 0.9, 50'000, 7));
  CHECK(zipf_trace(10'000, 0.9, 50'000, 7) != zipf_trace(10'000, 0.9, 50'000, 8));
  CHECK(uniform_trace(500, 10'000, 3) == uniform_trace(500, 10'000, 3));
  // Pinned values: a change here silently changes every benchmark's workload.
  splitmix64 rng(0);
  CHECK(rng() == 0xe220a8397b1dcdafULL);
  CHECK(rng() == 0x6e789e6aa1b965f4ULL);
}

TEST_CASE("uniform trace: every id in range and roughly equally frequent") {
  const auto counts = histogram(uniform_trace(100, 1'000'000), 100);
  const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
  CHECK(*lo > 9'500);
  CHECK(*hi < 10'500);
}

TEST_CASE("scan-mix trace: scans are 10x capacity, sequential, and the requested share") {
  scan_mix_options o;
  o.hot_keys = 1'000;
  o.capacity = 100;
  o.scan_fraction = 0.25;
  o.cold_keys = 100'000;
  const auto trace = scan_mix_trace(o, 100'000);
  REQUIRE(trace.size() == 100'000);
  std::size_t cold = 0, longest_run = 0, run = 0;
  std::uint32_t previous = 0;
  for (const auto id : trace) {
    REQUIRE(id < key_count(o));
    if (id >= o.hot_keys) {
      if (run > 0) CHECK(id == previous + 1);  // a scan walks cold ids in order
      ++cold;
      longest_run = std::max(longest_run, ++run);
    } else {
      run = 0;
    }
    previous = id;
  }
  CHECK(static_cast<double>(cold) / 100'000.0 == Approx(0.25).epsilon(0.01));
  CHECK(longest_run == 10 * o.capacity);
  CHECK(scan_mix_trace(o, 5'000) == scan_mix_trace(o, 5'000));
}

TEST_CASE("keys: precomputed, unique, fixed width; fingerprint keys spread the first byte") {
  const auto keys = make_keys(20'000);
  std::set<std::string> unique(keys.begin(), keys.end());
  CHECK(unique.size() == keys.size());
  std::set<unsigned char> first_bytes;
  for (const auto& k : keys) {
    CHECK(k.size() == 32);
    first_bytes.insert(static_cast<unsigned char>(k.front()));
  }
  CHECK(first_bytes.size() == 256);
  CHECK(key_for(42, key_style::readable) == "key:0000000042");
  CHECK(key_for(4'000'000'000u, key_style::readable).size() == 14);
}

TEST_CASE("mutex_lru evicts the least recently used entry") {
  mutex_lru lru(2, 1 << 20);
  larder::blob out;
  lru.put("a", bytes(1));
  lru.put("b", bytes(1));
  CHECK(lru.get("a", out));  // b is now least recent
  lru.put("c", bytes(1));
  CHECK(lru.contains("a"));
  CHECK_FALSE(lru.contains("b"));
  CHECK(lru.contains("c"));
  CHECK_FALSE(lru.get("b", out));
  // Replacing refreshes recency: a is refreshed, so c goes next.
  lru.put("a", bytes(3));
  lru.put("d", bytes(1));
  CHECK(lru.contains("a"));
  CHECK_FALSE(lru.contains("c"));
  REQUIRE(lru.get("a", out));
  CHECK(out.size() == 3);
  CHECK(lru.size() == 2);
  CHECK(lru.bytes() == (1 + 3) + (1 + 1));
}

TEST_CASE("mutex_lru respects its byte budget and refuses what can never fit") {
  mutex_lru lru(100, 30);
  larder::blob out;
  lru.put("k1", bytes(8));  // 10 bytes charged, key included
  lru.put("k2", bytes(8));
  lru.put("k3", bytes(8));
  CHECK(lru.bytes() == 30);
  lru.put("k4", bytes(8));
  CHECK_FALSE(lru.contains("k1"));
  CHECK(lru.bytes() == 30);
  lru.put("k2", bytes(40));  // larger than the whole budget: refused, old value kept
  REQUIRE(lru.get("k2", out));
  CHECK(out.size() == 8);
  lru.put("big", bytes(25));  // fits alone: everything else goes
  CHECK(lru.size() == 1);
  CHECK(lru.contains("big"));
}

TEST_CASE("seed_store shards by first byte and evicts the oldest tick in the shard") {
  seed_store seed(2 * seed_store::shard_count, 1 << 20);  // two entries per shard
  REQUIRE(seed.shard_entry_budget() == 2);
  CHECK(seed_store::shard_of("xa") == seed_store::shard_of("xyz"));
  CHECK(seed_store::shard_of("\xff") == 255);
  larder::blob out;
  seed.put("xa", bytes(1));
  seed.put("xb", bytes(1));
  seed.put("ya", bytes(1));    // another shard: no pressure on the x shard
  CHECK(seed.get("xa", out));  // xb now carries the oldest tick
  seed.put("xc", bytes(1));
  CHECK(seed.contains("xa"));
  CHECK_FALSE(seed.contains("xb"));
  CHECK(seed.contains("xc"));
  CHECK(seed.contains("ya"));
  seed.put("xa", bytes(2));  // a put stamps a tick too: xc is now oldest
  seed.put("xd", bytes(1));
  CHECK_FALSE(seed.contains("xc"));
  REQUIRE(seed.get("xa", out));
  CHECK(out.size() == 2);
  CHECK(seed.size() == 3);

  seed_store tiny(255, 1 << 20);  // below one entry per shard: holds nothing, like the seed
  tiny.put("a", bytes(1));
  CHECK_FALSE(tiny.contains("a"));
}

TEST_CASE("Belady on a hand-worked trace, with bypass") {
  // Capacity 2. Keys 2 and 3 are never requested again, so MIN declines them and keeps
  // 0 and 1, which then hit at positions 3, 4, 6 and 7. LRU thrashes: no hit at all.
  const std::vector<std::uint32_t> trace{0, 1, 2, 0, 1, 3, 0, 1};
  const auto opt = belady_hits(trace, 2);
  CHECK(opt.hits == 4);
  CHECK(opt.requests == 8);
  CHECK(opt.ratio() == 0.5);
  CHECK(lru_hits(trace, 2).hits == 0);
  CHECK(belady_hits(trace, 0).hits == 0);
  CHECK(belady_hits(trace, 4).hits == 4);  // everything fits: only cold misses
}

TEST_CASE("Belady equals an exhaustive search on small random traces") {
  splitmix64 rng(99);
  for (int round = 0; round < 40; ++round) {
    std::vector<std::uint32_t> trace(11);
    for (auto& id : trace)
      id = rng.next_below(5);
    for (const std::size_t capacity : {1u, 2u, 3u}) {
      std::vector<std::uint32_t> cache;
      CAPTURE(round, capacity);
      CHECK(belady_hits(trace, capacity).hits == brute_force_optimum(trace, capacity, 0, cache));
    }
  }
}

TEST_CASE("Belady beats LRU on Zipf, and the LRU simulator agrees with mutex_lru") {
  const std::uint32_t key_total = 2'000;
  const auto trace = zipf_trace(key_total, 0.9, 200'000);
  const auto keys = make_keys(key_total);
  for (const std::size_t capacity : {20u, 200u}) {
    CAPTURE(capacity);
    const auto opt = belady_hits(trace, capacity);
    const auto lru = lru_hits(trace, capacity);
    CHECK(opt.hits > lru.hits);
    mutex_lru store(capacity, std::numeric_limits<std::size_t>::max());
    CHECK(run_hit_ratio(store, trace, keys).hits == lru.hits);
  }
}

TEST_CASE("throughput harness: counts every operation and reads hit after prepopulate") {
  const auto keys = make_keys(1'000);
  const auto trace = zipf_trace(1'000, 1.0, 4'096);
  mutex_lru lru(1'000, std::numeric_limits<std::size_t>::max());
  prepopulate(lru, keys, 16);
  CHECK(lru.size() == 1'000);

  throughput_options options;
  options.threads = 2;
  options.read_fraction = 0.75;
  options.ops_per_thread = 10'000;
  const auto mixed = run_throughput(lru, trace, keys, options);
  CHECK(mixed.ops == 20'000);
  CHECK(mixed.reads == 15'000);
  CHECK(mixed.read_hits == mixed.reads);
  CHECK(mixed.seconds > 0.0);
  CHECK(mixed.ops_per_second() > 0.0);

  seed_store seed(256 * 64, std::numeric_limits<std::size_t>::max());
  prepopulate(seed, keys, 16);
  options.threads = 1;
  options.read_fraction = 0.0;
  options.ops_per_thread = 0;
  options.duration = std::chrono::milliseconds(20);
  const auto writes = run_throughput(seed, trace, keys, options);
  CHECK(writes.ops > 0);
  CHECK(writes.reads == 0);
}

TEST_CASE("latency helper reports ns per operation") {
  std::uint64_t calls = 0;
  const auto r = measure_latency([&](std::uint64_t i) { calls += i; }, 10'000, 1'000);
  CHECK(r.iterations == 10'000);
  CHECK(calls == 10'000ull * 9'999 / 2);
  CHECK(r.mean_ns >= 0.0);
  CHECK(r.best_batch_ns <= r.mean_ns + 1e-9);
  int plain = 0;
  CHECK(measure_latency([&] { ++plain; }, 10).iterations == 10);
  CHECK(plain == 10);
}
