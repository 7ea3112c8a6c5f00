// Large values: any value up to max_value_size fits whatever the shard count, and the
// byte budget still holds exactly.
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "larder/layered_store.hpp"
#include "larder/memory_store.hpp"
#include "larder/null_store.hpp"
#include "support/io_runner.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {
std::string key_of(int i) {
  return "key/" + std::to_string(i);
}
}  // namespace

TEST_CASE("memory_store: a value far above one shard's share is stored at any shard count") {
  // The README's pipeline cache: 64 MiB over 64 shards is 1 MiB a shard.
  for (unsigned shards : {1u, 4u, 16u, 64u, 256u}) {
    CAPTURE(shards);
    const std::uint64_t budget = 64ull << 20;
    memory_store s({.max_entries = 100'000, .max_bytes = budget, .shards = shards});
    REQUIRE(s.shard_count() == shards);
    // Fill the store with small values first, so that the large one must take room from
    // other shards.
    const std::string small(16 << 10, 's');
    for (int i = 0; i < 5000; ++i)
      REQUIRE_FALSE(s.put_now(key_of(i), blob::copy_of(small), 0ms));
    CHECK(s.metrics().bytes <= budget);
    const std::string big(4 << 20, 'B');
    REQUIRE_FALSE(s.put_now("binary", blob::copy_of(big), 0ms));
    auto got = s.try_get("binary");
    REQUIRE(got);
    CHECK(got->size() == big.size());
    CHECK(s.metrics().bytes <= budget);
    // Several large values at once, then small ones again: the budget holds throughout.
    for (int i = 0; i < 8; ++i) {
      REQUIRE_FALSE(s.put_now("big/" + std::to_string(i), blob::copy_of(big), 0ms));
      CHECK(s.metrics().bytes <= budget);
    }
    for (int i = 5000; i < 9000; ++i)
      REQUIRE_FALSE(s.put_now(key_of(i), blob::copy_of(small), 0ms));
    CHECK(s.metrics().bytes <= budget);
    // Returned credit is used again: the store fills back to near its budget.
    CHECK(s.metrics().bytes > budget - (budget / 8));
  }
}

TEST_CASE("memory_store: a value of the whole budget fits; one byte more of weight does not") {
  for (unsigned shards : {1u, 8u, 64u}) {
    CAPTURE(shards);
    const std::uint64_t budget = 1 << 20;
    memory_store s({.max_entries = 1000, .max_bytes = budget, .shards = shards});
    for (int i = 0; i < 200; ++i)
      REQUIRE_FALSE(s.put_now(key_of(i), blob(std::string(1000, 'x')), 0ms));
    const auto whole = budget - 1 - memory_store::entry_overhead;
    REQUIRE_FALSE(s.put_now("k", blob(std::string(whole, 'w')), 0ms));
    CHECK(s.try_get("k"));
    CHECK(s.metrics().entries == 1);
    CHECK(s.metrics().bytes == budget);
    CHECK(s.put_now("k", blob(std::string(whole + 1, 'w')), 0ms) == errc::value_too_large);
    CHECK_FALSE(s.try_get("k"));
    CHECK(s.metrics().bytes == 0);
  }
}

TEST_CASE("memory_store: max_value_size refuses larger values at any shard count") {
  for (unsigned shards : {1u, 16u}) {
    memory_store s({.max_bytes = 64 << 20, .max_value_size = 1 << 20, .shards = shards});
    CHECK_FALSE(s.put_now("fits", blob(std::string(1 << 20, 'a')), 0ms));
    CHECK(s.put_now("over", blob(std::string((1 << 20) + 1, 'a')), 0ms) == errc::value_too_large);
    CHECK(s.metrics().rejected_puts == 1);
  }
}

TEST_CASE("layered_store: a tier's refusal is counted and described in its report") {
  testing::io_runner runner;
  auto memory = std::make_shared<memory_store>(
      memory_store_options{.max_bytes = 64 << 20, .max_value_size = 8 << 20, .shards = 64});
  std::vector<any_store> tiers;
  tiers.emplace_back(memory, "memory");
  tiers.emplace_back(std::make_shared<null_store>(), "null");
  layered_store stack(std::move(tiers));
  runner.run([&]() -> asio::awaitable<void> {
    // 4 MiB over 64 shards: stored by the memory tier (the old code refused it).
    const auto stored = co_await stack.put("pipeline", blob(std::string(4 << 20, 'p')));
    CHECK_FALSE(stored);
    const auto big = co_await stack.put("huge", blob(std::string(9 << 20, 'h')));
    CHECK_FALSE(big);  // the null tier took it: not a failure of the stack
  });
  CHECK(memory->metrics().entries == 1);
  const auto reports = stack.tiers();
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].refusals == 1);
  CHECK(reports[0].last_refusal == errc::value_too_large);
  CHECK(reports[0].last_refusal_text.find("9437184 bytes") != std::string::npos);
  CHECK(reports[1].refusals == 0);
}
