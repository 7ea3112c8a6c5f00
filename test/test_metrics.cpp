#include "larder/metrics.hpp"

#include <catch2/catch.hpp>
#include <limits>
#include <thread>
#include <vector>

TEST_CASE("counters are exact under concurrent updates and lookups are derived") {
  larder::metric_counters c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.add(larder::counter::hits);
        if (i % 4 == 0) c.add(larder::counter::misses);
      }
    });
  for (auto& t : threads)
    t.join();
  c.add(larder::counter::lookup_faults, 3);
  larder::metrics_snapshot s;
  c.accumulate_into(s);
  CHECK(s.hits == 40000);
  CHECK(s.misses == 10000);
  CHECK(s.lookups == 50003);
  CHECK(s.hit_rate_ppm() == 40000ull * 1'000'000 / 50003);
}

TEST_CASE("hit rate is in parts per million and safe at the extremes") {
  larder::metrics_snapshot s;
  CHECK(s.hit_rate_ppm() == 0);
  s.lookups = std::numeric_limits<std::uint64_t>::max();
  s.hits = s.lookups;
  CHECK(s.hit_rate_ppm() == 1'000'000);
}

TEST_CASE("adding tier snapshots saturates instead of wrapping") {
  larder::metrics_snapshot a, b;
  a.hits = std::numeric_limits<std::uint64_t>::max() - 1;
  b.hits = 5;
  a.bytes = 10;
  b.bytes = 20;
  const auto sum = a + b;
  CHECK(sum.hits == std::numeric_limits<std::uint64_t>::max());
  CHECK(sum.bytes == 30);
}
