// layered_store: tiers fastest first, read-through with promotion, one load per key.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "larder/any_store.hpp"
#include "larder/detail/flight_waiter.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"

namespace larder {

enum class write_policy : unsigned char {
  write_through,    ///< put writes every tier (default)
  first_tier_only,  ///< put writes the fastest tier; lower tiers fill only from elsewhere
};

struct layered_options {
  /// Copy a hit found in a lower tier into every faster tier.
  bool promote = true;
  write_policy writes = write_policy::write_through;
};

/// What promotion has done since the store was built.
struct promotion_report {
  std::uint64_t events = 0;           ///< hits in a lower tier that were promoted
  std::uint64_t promoted_writes = 0;  ///< tier writes those promotions made
  std::uint64_t promoted_bytes = 0;
  /// Fills (promotions, get_or_load installs) a put, erase or invalidation of their key
  /// overlapped: kept out, or (already writing) waited out and then overwritten/removed.
  std::uint64_t withdrawn = 0;
  int last_source_tier = -1;  ///< the tier the latest promoted hit came from
};

/// One tier's own metrics, with the faults the layered store saw from it.
struct tier_report {
  std::string name;
  metrics_snapshot metrics;
  std::uint64_t faults = 0;  ///< get/put/erase/flush faults this tier returned to the stack
  /// puts this tier refused (too large, disabled) while the stack's put went on
  std::uint64_t refusals = 0;
  /// The latest refusal: the error and what was refused (key size, value size), or empty.
  std::error_code last_refusal{};
  std::string last_refusal_text{};
  /// The latest put this tier faulted on: which tiers had taken the value and that the
  /// stack erased it from them again (or that an erase faulted), or empty.
  std::error_code last_put_fault{};
  std::string last_put_fault_text{};
};

/// Tiers of any store types, fastest first (memory over disk over Redis).
///
/// - get reads tier by tier and returns the first hit, promoting it into the faster tiers.
///   A tier's fault is counted and the read falls through; a get whose tiers all missed
///   or faulted returns the first fault, or a miss when none faulted.
/// - put follows the write policy. It fails only when a tier faults (the first fault is
///   returned after every tier was tried) or when every tier refused the value; a refusal
///   by some tiers (too large for memory) is not a failure. A put that faults leaves the
///   key absent: it erases the key from every tier it wrote before it returns, so no tier
///   serves the value the put reported as not stored, nor an older one another tier lost.
///   The faulting tier's report (tiers(), last_put_fault_text) names the tiers that had
///   taken the value and says it was erased from them.
/// - erase, invalidate_prefix and flush reach every tier; flush tries them all and returns
///   the first error. invalidate_prefix returns the largest count any tier removed.
/// - A fill (a promotion, a get_or_load install) never lands after a put, erase or
///   invalidate_prefix of its key that it overlapped: fills not yet writing stand down,
///   and the writer acts only after the fills already writing have landed (so it
///   overwrites or removes them). A get_or_load that starts after such a write began never
///   joins a load that began before it.
///
/// Every operation suspends while its tiers work; cancellation is that of the tiers'
/// operations. Safe from coroutines on several threads. The store must outlive its calls.
class layered_store {
 public:
  explicit layered_store(std::vector<any_store> tiers, layered_options options = {});
  ~layered_store();
  layered_store(const layered_store&) = delete;
  layered_store& operator=(const layered_store&) = delete;

  asio::awaitable<lookup> get(key_view key);
  asio::awaitable<std::error_code> put(key_view key, blob value);
  asio::awaitable<result<bool>> erase(key_view key);
  asio::awaitable<std::error_code> flush();
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix);
  /// invalidate_prefix on the first `tier_count` tiers only (the node-local ones, for an
  /// invalidation_bus that learnt of a removal another node already made in the shared
  /// tier), with the same guard against promotions in flight.
  asio::awaitable<result<std::uint64_t>> invalidate_prefix_in(key_view prefix,
                                                              std::size_t tier_count);

  /// The value under `key` from the first tier that has it, else from `loader` (a callable
  /// returning asio::awaitable<result<blob>>), which then is written to the tiers by the
  /// write policy. Concurrent calls for one key, from any threads, share one read-through
  /// and one loader run, and so make one write to each tier. The shared work runs detached
  /// on the first caller's executor, so cancelling a caller (it completes with
  /// errc::cancelled) never cancels it for the others. A loader failure reaches every
  /// waiter and nothing is written. Every waiter completes however the shared work ends: a
  /// tier that throws while the loaded value is written is counted in `errors`, and the
  /// waiters still receive the value.
  ///
  /// Not a coroutine itself: GCC 12 destroys a temporary closure passed by value to a
  /// coroutine twice, so the loader is taken by reference and erased here, before any
  /// coroutine sees it. The loader must be copy- or move-constructible.
  template <class Loader>
  asio::awaitable<result<blob>> get_or_load(key_view key, Loader&& loader) {
    detail::load_function load = detail::erase_loader(std::forward<Loader>(loader));
    return get_or_load_erased(key, std::move(load));
  }

  /// Stack-level counters (a get is one lookup, however many tiers it read); entries of
  /// the fullest tier (the tiers hold copies of one key space); bytes and evictions
  /// summed over the tiers.
  metrics_snapshot metrics() const;
  std::vector<tier_report> tiers() const;
  promotion_report promotions() const;
  /// The tier at `index` (fastest first), to reach a tier's own API.
  any_store& tier(std::size_t index);
  std::size_t tier_count() const noexcept;

 private:
  struct impl;
  using load_function = detail::load_function;
  asio::awaitable<result<blob>> get_or_load_erased(key_view key, load_function load);
  asio::awaitable<lookup> first_tier_hit(key_view key);
  void join_flight(key_view key, const asio::any_io_executor& executor,
                   std::unique_ptr<detail::flight_waiter> waiter, load_function load);

  std::shared_ptr<impl> impl_;
};

static_assert(store<layered_store>);

}  // namespace larder
