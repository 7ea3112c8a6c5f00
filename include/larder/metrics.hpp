// Store metrics: lock-free counters on the hot path, one plain snapshot for readers.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>

namespace larder {

/// A point-in-time copy of a store's counters (monotonic) and gauges (entries, bytes).
/// Plain data: copy it, compare it, add the snapshots of several tiers.
struct metrics_snapshot {
  std::uint64_t lookups = 0;  ///< get calls (hits + misses + faulted lookups)
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t puts = 0;           ///< put calls that stored (or, for null, accepted) a value
  std::uint64_t rejected_puts = 0;  ///< put calls refused: too large, disabled, fault
  std::uint64_t evictions = 0;      ///< entries removed to make room or because they expired
  std::uint64_t evicted_bytes = 0;
  std::uint64_t flushes = 0;
  std::uint64_t flush_errors = 0;
  std::uint64_t errors = 0;  ///< faults of any operation: I/O, corruption, remote down
  /// get_or_load calls that joined a load another call led (each led load is one lookup)
  std::uint64_t coalesced = 0;
  std::uint64_t entries = 0;  ///< gauge: entries held now
  std::uint64_t bytes = 0;    ///< gauge: bytes held now (keys, values, bookkeeping)

  /// hits / lookups in parts per million (0 when there were no lookups).
  std::uint64_t hit_rate_ppm() const noexcept {
    if (lookups == 0) return 0;
    // Widen so that hits * 1e6 cannot overflow.
    __extension__ using wide = unsigned __int128;
    return static_cast<std::uint64_t>(static_cast<wide>(hits) * 1'000'000u / lookups);
  }

  /// Field-wise sum that saturates at the maximum instead of wrapping.
  metrics_snapshot& operator+=(const metrics_snapshot& other) noexcept;
  friend metrics_snapshot operator+(metrics_snapshot a, const metrics_snapshot& b) noexcept {
    return a += b;
  }
  friend bool operator==(const metrics_snapshot&, const metrics_snapshot&) = default;
};

/// The counters a store bumps as it works. A lookup bumps exactly one of hits, misses
/// or lookup_faults, so `lookups` is derived and always agrees with its parts. Each is a relaxed
/// atomic: exact totals, no ordering against the data they describe. Keep one per shard (it is a
/// whole cache line) so threads on different shards never share a counter line.
enum class counter : unsigned {
  hits,
  misses,
  puts,
  rejected_puts,
  evictions,
  evicted_bytes,
  flushes,
  flush_errors,
  errors,
  lookup_faults,  ///< gets that ended in a fault; lookups = hits + misses + lookup_faults
  coalesced,      ///< get_or_load callers that joined a flight instead of leading one
  count_
};

class alignas(64) metric_counters {
 public:
  void add(counter c, std::uint64_t n = 1) noexcept {
    values_[static_cast<unsigned>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t get(counter c) const noexcept {
    return values_[static_cast<unsigned>(c)].load(std::memory_order_relaxed);
  }

  /// Add these counters into `out` (gauges are left to the store).
  void accumulate_into(metrics_snapshot& out) const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, static_cast<unsigned>(counter::count_)> values_{};
};

inline std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? std::numeric_limits<std::uint64_t>::max() : sum;
}

inline metrics_snapshot& metrics_snapshot::operator+=(const metrics_snapshot& o) noexcept {
  lookups = saturating_add(lookups, o.lookups);
  hits = saturating_add(hits, o.hits);
  misses = saturating_add(misses, o.misses);
  puts = saturating_add(puts, o.puts);
  rejected_puts = saturating_add(rejected_puts, o.rejected_puts);
  evictions = saturating_add(evictions, o.evictions);
  evicted_bytes = saturating_add(evicted_bytes, o.evicted_bytes);
  flushes = saturating_add(flushes, o.flushes);
  flush_errors = saturating_add(flush_errors, o.flush_errors);
  errors = saturating_add(errors, o.errors);
  coalesced = saturating_add(coalesced, o.coalesced);
  entries = saturating_add(entries, o.entries);
  bytes = saturating_add(bytes, o.bytes);
  return *this;
}

inline void metric_counters::accumulate_into(metrics_snapshot& out) const noexcept {
  metrics_snapshot mine;
  mine.hits = get(counter::hits);
  mine.misses = get(counter::misses);
  mine.lookups =
      saturating_add(saturating_add(mine.hits, mine.misses), get(counter::lookup_faults));
  mine.puts = get(counter::puts);
  mine.rejected_puts = get(counter::rejected_puts);
  mine.evictions = get(counter::evictions);
  mine.evicted_bytes = get(counter::evicted_bytes);
  mine.flushes = get(counter::flushes);
  mine.flush_errors = get(counter::flush_errors);
  mine.errors = get(counter::errors);
  mine.coalesced = get(counter::coalesced);
  out += mine;
}

}  // namespace larder
