#include "larder/store.hpp"

#include <catch2/catch.hpp>

#include "larder/null_store.hpp"

namespace {
// Has everything but flush: must not model the concept.
struct no_flush {
  asio::awaitable<larder::lookup> get(larder::key_view);
  asio::awaitable<std::error_code> put(larder::key_view, larder::blob);
  asio::awaitable<larder::result<bool>> erase(larder::key_view);
  asio::awaitable<larder::result<std::uint64_t>> invalidate_prefix(larder::key_view);
  larder::metrics_snapshot metrics() const;
};
// A synchronous get is not the contract either.
struct sync_get {
  larder::lookup get(larder::key_view);
  asio::awaitable<std::error_code> put(larder::key_view, larder::blob);
  asio::awaitable<larder::result<bool>> erase(larder::key_view);
  asio::awaitable<std::error_code> flush();
  asio::awaitable<larder::result<std::uint64_t>> invalidate_prefix(larder::key_view);
  larder::metrics_snapshot metrics() const;
};
}  // namespace

TEST_CASE("the store concept accepts stores and rejects near misses") {
  STATIC_REQUIRE(larder::store<larder::null_store>);
  STATIC_REQUIRE_FALSE(larder::store<no_flush>);
  STATIC_REQUIRE_FALSE(larder::store<sync_get>);
  STATIC_REQUIRE_FALSE(larder::store<int>);
}
