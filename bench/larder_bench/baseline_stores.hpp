// The benchmark baselines (bench/baselines/) behind the Store contract, so that
// `--compare mutex-lru` runs them through exactly the driver larder's stores run through.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <system_error>
#include <utility>

#include "larder/blob.hpp"
#include "larder/lookup.hpp"
#include "larder/metrics.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"

namespace larder::bench {

/// A synchronous baseline (mutex_lru, seed_store) as a store. Every operation completes
/// without suspending; cancellation has nothing to cancel. A put the baseline refuses
/// (larger than its budget) is counted as rejected and reported as value_too_large, as
/// a larder store would. Evictions are not counted: the baselines do not say.
template <class Baseline>
class baseline_store {
 public:
  /// `largest_charge`: the largest key + value the baseline keeps (the seed store's limit
  /// is one shard's budget, not the whole budget).
  baseline_store(std::size_t max_entries, std::size_t max_bytes, std::size_t largest_charge)
      : baseline_(max_entries, max_bytes), largest_charge_(largest_charge) {}

  asio::awaitable<lookup> get(key_view key) {
    blob out;
    if (baseline_.get(key, out)) {
      counters_.add(counter::hits);
      co_return lookup::hit(std::move(out));
    }
    counters_.add(counter::misses);
    co_return lookup::miss();
  }

  asio::awaitable<std::error_code> put(key_view key, blob value) {
    if (key.size() + value.size() > largest_charge_) {
      counters_.add(counter::rejected_puts);
      co_return make_error_code(errc::value_too_large);
    }
    baseline_.put(key, std::move(value));
    counters_.add(counter::puts);
    co_return std::error_code{};
  }

  asio::awaitable<result<bool>> erase(key_view key) { co_return baseline_.erase(key); }

  /// Volatile: nothing to make durable.
  asio::awaitable<std::error_code> flush() {
    counters_.add(counter::flushes);
    co_return std::error_code{};
  }

  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) {
    co_return static_cast<std::uint64_t>(baseline_.erase_prefix(prefix));
  }

  metrics_snapshot metrics() const {
    metrics_snapshot out;
    counters_.accumulate_into(out);
    out.entries = baseline_.size();
    if constexpr (requires { baseline_.bytes(); }) out.bytes = baseline_.bytes();
    return out;
  }

 private:
  Baseline baseline_;
  std::size_t largest_charge_;
  metric_counters counters_;
};

}  // namespace larder::bench
