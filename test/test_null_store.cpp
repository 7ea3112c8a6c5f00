#include "larder/null_store.hpp"

#include <asio/io_context.hpp>
#include <tuple>

namespace {
struct null_fixture {
  static constexpr bool retains = false;
  explicit null_fixture(asio::io_context&) {}
  larder::null_store& store() { return store_; }
  larder::null_store store_;
};
}  // namespace

using conformance_fixtures = std::tuple<null_fixture>;
#include "support/conformance.hpp"

TEST_CASE("null_store counts what it drops") {
  larder::testing::io_runner runner;
  larder::null_store s;
  runner.run([&]() -> asio::awaitable<void> {
    for (int i = 0; i < 3; ++i) {
      const auto r_ = co_await s.put("k", larder::blob{});
      CHECK_FALSE(r_);
    }
    const auto got = co_await s.get("k");
    CHECK(got.is_miss());
  });
  const auto m = s.metrics();
  CHECK(m.puts == 3);
  CHECK(m.misses == 1);
  CHECK(m.lookups == 1);
  CHECK(m.entries == 0);
}
