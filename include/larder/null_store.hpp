// null_store: keeps nothing. Every get misses; every put is accepted and dropped.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <system_error>

#include "larder/blob.hpp"
#include "larder/lookup.hpp"
#include "larder/metrics.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"

namespace larder {

/// A store that remembers nothing: for turning caching off without changing call
/// sites, and as a baseline in benchmarks. Metrics still count every call.
/// Every operation completes without suspending; cancellation has nothing to cancel.
class null_store {
 public:
  /// Always a miss.
  asio::awaitable<lookup> get(key_view key);
  /// Accepted and dropped; never fails.
  asio::awaitable<std::error_code> put(key_view key, blob value);
  /// Nothing to remove: false.
  asio::awaitable<result<bool>> erase(key_view key);
  /// Nothing to make durable: success.
  asio::awaitable<std::error_code> flush();
  /// Nothing to remove: 0.
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix);

  metrics_snapshot metrics() const noexcept;

 private:
  metric_counters counters_;
};

static_assert(store<null_store>);

}  // namespace larder
