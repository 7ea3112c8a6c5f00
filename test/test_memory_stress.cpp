// Many threads mixing every operation on a small store: run under ThreadSanitizer.
#include <catch2/catch.hpp>
#include <thread>

#include "larder/fingerprint.hpp"
#include "larder/memory_store.hpp"

using namespace larder;
using namespace std::chrono_literals;

TEST_CASE("memory_store stress: every operation from 4 threads, both policies") {
  for (auto policy : {eviction_policy::s3_fifo, eviction_policy::lru}) {
    memory_store s({.max_entries = 256, .max_bytes = 64 * 1024, .shards = 4, .policy = policy});
    std::atomic<std::uint64_t> evicted{0};
    s.set_eviction_listener([&](std::string_view, std::uint64_t, eviction_reason) { ++evicted; });
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::uint64_t x = 0x9e3779b97f4a7c15ull * (t + 1);
        for (int i = 0; i < 20000; ++i) {
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          const std::string key = "group" + std::to_string(x % 4) + "/" + std::to_string(x % 500);
          switch (x % 16) {
            case 0:
              (void)s.invalidate_prefix_now("group" + std::to_string(x % 4) + "/");
              break;
            case 1:
            case 2:
              (void)s.put_now(key, blob(std::string(x % 700, 'v')), (x % 3 == 0) ? 1ms : 0ms);
              break;
            case 3:
              (void)s.put_now(key, blob::copy_of(key), 0ms);
              break;
            case 4:
              (void)s.reclaim_expired();
              break;
            default:
              if (auto v = s.try_get(key)) {
                const bool filler = v->view().find_first_not_of('v') == std::string_view::npos;
                if (!filler && v->view() != key) ++wrong;
              }
          }
        }
      });
    }
    for (auto& t : threads)
      t.join();
    CHECK(wrong == 0);
    const auto m = s.metrics();
    CHECK(m.entries <= 256);
    CHECK(m.bytes <= 64 * 1024);
    CHECK(m.evictions == evicted.load());
  }
}
