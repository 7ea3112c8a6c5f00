// disk_store from many coroutines on two threads: puts, gets, erases, prefix invalidations
// and flushes interleaved. Run under ThreadSanitizer in the 'concurrency' suite.
#include <atomic>
#include <filesystem>
#include <string>

#include "larder/disk_store.hpp"
#include "larder/fingerprint.hpp"
#include "support/disk_fixture.hpp"
#include "support/io_runner.hpp"

using namespace larder;

namespace {

// The key, a separator, then padding: a reader can tell a foreign or torn value.
blob value_for(const std::string& key, unsigned n) {
  std::string v = key + '#';
  v.append(50 + n % 4000, static_cast<char>('a' + n % 26));
  return blob(std::move(v));
}
bool genuine(const std::string& key, std::string_view v) {
  if (v.size() < key.size() + 51 || v.substr(0, key.size() + 1) != key + '#') return false;
  const char c = v.back();
  return v.find_first_not_of(c, key.size() + 1) == std::string_view::npos;
}

}  // namespace

TEMPLATE_TEST_CASE("disk_store: mixed operations on two threads stay consistent",
                   "[disk][concurrency]", testing::disk_fixture<io_backend::io_uring>,
                   testing::disk_fixture<io_backend::thread_pool>) {
  testing::io_runner runner(2);
  // A tight budget so that eviction runs concurrently with everything else.
  TestType fixture(runner.context(), {.root = {}, .max_bytes = 64 << 10});
  auto& s = fixture.store();
  std::atomic<unsigned> bad{0}, faults{0}, errors{0};
  for (unsigned w = 0; w < 16; ++w) {
    runner.spawn([&, w]() -> asio::awaitable<void> {
      for (unsigned r = 0; r < 80; ++r) {
        const std::string key = "g" + std::to_string((w + r) % 3) + "/" + std::to_string(r % 11);
        switch ((w * 7 + r) % 10) {
          case 0: {
            auto n = co_await s.invalidate_prefix("g" + std::to_string(r % 3) + "/");
            if (!n) ++errors;
            break;
          }
          case 1: {
            auto erased = co_await s.erase(key);
            if (!erased) ++errors;
            break;
          }
          case 2: {
            const auto ec = co_await s.flush();
            if (ec) ++errors;
            break;
          }
          case 3:
          case 4:
          case 5: {
            const auto ec = co_await s.put(key, value_for(key, w * 1000 + r));
            if (ec) ++errors;
            break;
          }
          default: {
            auto got = co_await s.get(key);
            if (got.is_fault()) ++faults;
            if (got.is_hit() && !genuine(key, got.value().view())) ++bad;
          }
        }
      }
    });
  }
  runner.run();
  CHECK(bad == 0);
  CHECK(faults == 0);
  CHECK(errors == 0);
  const auto m = s.disk_metrics();
  CHECK(m.store.bytes <= (64u << 10));
  CHECK(m.corrupt_entries == 0);
  CHECK(m.store.lookups == m.store.hits + m.store.misses);

  // A reopen finds no more than the index held (an erase racing a put of the same key may
  // remove the put's file, which a later get reports as a miss), and nothing corrupt.
  const auto entries = m.store.entries;
  fixture.reopen();
  CHECK(fixture.store().metrics().entries <= entries);
  CHECK(fixture.store().disk_metrics().corrupt_entries == 0);
  CHECK(fixture.store().disk_metrics().temp_files_removed == 0);
}
