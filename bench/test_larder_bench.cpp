// larder-bench's instruments: the latency histogram its percentiles come from, the size
// parser its options go through, the workload's value check that its "wrong values"
// count rests on, and the baselines' removal paths its --compare runs use.
#include <catch2/catch.hpp>
#include <cmath>
#include <string>

#include "baselines/mutex_lru.hpp"
#include "baselines/seed_store.hpp"
#include "larder_bench/histogram.hpp"
#include "larder_bench/units.hpp"
#include "larder_bench/workload.hpp"

using namespace larder::bench;

TEST_CASE("latency_histogram: buckets tile the range and round-trip", "[bench]") {
  for (std::size_t i = 0; i + 1 < latency_histogram::bucket_count; ++i) {
    REQUIRE(latency_histogram::highest_in(i) + 1 == latency_histogram::lowest_in(i + 1));
    REQUIRE(latency_histogram::index_of(latency_histogram::lowest_in(i)) == i);
    REQUIRE(latency_histogram::index_of(latency_histogram::highest_in(i)) == i);
  }
}

TEST_CASE("latency_histogram: quantiles within the bucket resolution", "[bench]") {
  latency_histogram a, b;
  for (std::uint64_t ns = 1; ns <= 100'000; ++ns)
    (ns % 2 ? a : b).record(ns);
  a.merge(b);
  CHECK(a.count() == 100'000);
  CHECK(a.min() == 1);
  CHECK(a.max() == 100'000);
  CHECK(a.mean() == Approx(50'000.5));
  for (const double q : {0.5, 0.9, 0.99, 0.999}) {
    const double exact = q * 100'000;
    CHECK(std::abs(static_cast<double>(a.quantile(q)) - exact) <= exact * 0.02);
  }
  CHECK(a.quantile(1.0) == 100'000);
  CHECK(latency_histogram{}.quantile(0.99) == 0);
}

TEST_CASE("parse_size and parse_count", "[bench]") {
  CHECK(parse_size("4096") == 4096u);
  CHECK(parse_size("4KiB") == 4096u);
  CHECK(parse_size("4K") == 4096u);
  CHECK(parse_size("1.5MiB") == 1572864u);
  CHECK(parse_size("64kB") == 64000u);
  CHECK(parse_size("2G") == (2ull << 30));
  CHECK_FALSE(parse_size("lots"));
  CHECK_FALSE(parse_size("4 parsecs"));
  CHECK(parse_count("20k") == 20000u);
  CHECK(parse_count("1.5M") == 1500000u);
  CHECK_FALSE(parse_count("-3"));
}

TEST_CASE("workload: values verify only under their own key", "[bench]") {
  bench_config c;
  c.keys = 500;
  c.ops = 10'000;
  c.threads = 2;
  c.value_size = {size_distribution::kind::uniform, 3, 5000, 1.2};
  c.mix = {80, 15, 5};
  const workload w(c);
  REQUIRE(w.key_count() == 500);
  for (std::uint32_t id = 0; id < 500; ++id) {
    REQUIRE(w.value_size(id) >= 3);
    REQUIRE(w.value_size(id) <= 5000);
    const auto v = w.make_value(id);
    REQUIRE(w.value_matches(id, v));
    // Another key's value of the same length must not pass.
    for (std::uint32_t other = 0; other < 500; ++other)
      if (other != id && w.value_size(other) == w.value_size(id))
        REQUIRE_FALSE(w.value_matches(id, w.make_value(other)));
  }
  CHECK_FALSE(w.value_matches(0, larder::blob()));
  std::uint64_t gets = 0, steps = 0;
  for (unsigned t = 0; t < 2; ++t) {
    const auto& tr = w.trace(t);
    REQUIRE(tr.keys.size() == tr.ops.size());
    REQUIRE(tr.keys.size() >= c.ops / 2);
    for (std::size_t i = 0; i < tr.ops.size(); ++i, ++steps) {
      REQUIRE(tr.keys[i] < 500);
      gets += tr.ops[i] == op_kind::get;
    }
  }
  CHECK(static_cast<double>(gets) / static_cast<double>(steps) == Approx(0.8).margin(0.02));
  CHECK(w.key(1).size() == workload::key_size);
  CHECK(w.key(1) != w.key(2));
}

TEMPLATE_TEST_CASE("baselines: erase and erase_prefix", "[bench]", mutex_lru, seed_store) {
  TestType store(1 << 16, 1 << 26);
  const auto value = [] { return larder::blob(std::string(10, 'v')); };
  for (const char* key : {"alpha/1", "alpha/2", "alphabet", "beta/1"})
    store.put(key, value());
  CHECK(store.erase("beta/1"));
  CHECK_FALSE(store.erase("beta/1"));
  CHECK(store.erase_prefix("alpha/") == 2);
  CHECK(store.size() == 1);
  CHECK(store.contains("alphabet"));
  CHECK(store.erase_prefix("") == 1);
  CHECK(store.size() == 0);
}
