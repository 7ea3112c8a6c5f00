// One shard of the memory store: its index, eviction queues, ghost set and expiry heap.
// Every member assumes the caller holds `mutex` (shared for find and for an S3-FIFO
// touch, else exclusive).
#pragma once

#include <absl/container/btree_set.h>
#include <absl/container/inlined_vector.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/single_flight.hpp"
#include "larder/eviction.hpp"
#include "larder/memory_store.hpp"
#include "stores/memory/entry.hpp"
#include "stores/memory/entry_index.hpp"
#include "stores/memory/shard_mutex.hpp"

namespace larder::detail::mem {

// Byte-wise key order, for prefix ranges.
struct key_less {
  using is_transparent = void;
  bool operator()(const entry* a, const entry* b) const noexcept { return a->key() < b->key(); }
  bool operator()(const entry* a, std::string_view b) const noexcept { return a->key() < b; }
  bool operator()(std::string_view a, const entry* b) const noexcept { return a < b->key(); }
};

/// An intrusive doubly linked queue; O(1) push, pop and removal from the middle.
class entry_queue {
 public:
  entry* front() const noexcept { return head_; }
  std::uint64_t size() const noexcept { return count_; }
  std::uint64_t bytes() const noexcept { return bytes_; }
  void push_back(entry* e, std::uint64_t weight) noexcept;
  void unlink(entry* e, std::uint64_t weight) noexcept;

 private:
  entry* head_ = nullptr;
  entry* tail_ = nullptr;
  std::uint64_t count_ = 0;
  std::uint64_t bytes_ = 0;
};

/// An entry leaving the shard, still holding the shard's reference so that it can be
/// reported and freed after the lock is released.
struct departed {
  entry* e;
  std::uint64_t weight;
  bool evicted;  // evictions go to the eviction listener; every departure to the removal one
  eviction_reason reason;
  removal_cause cause;
};

/// Departures of one operation; most operations have few, so they stay off the heap.
using departures = absl::InlinedVector<departed, 4>;

struct shard_config {
  std::uint64_t max_entries;
  std::uint64_t max_bytes;  // the shard's share of the byte budget
  // The store's pool of byte credit not held by any shard (see lend and settle_credit).
  std::atomic<std::uint64_t>* pool;
  eviction_policy policy;
  unsigned small_percent;
  bool eager_prefix_index;
};

class shard {
 public:
  shard(unsigned index, const shard_config& config);
  ~shard();
  shard(const shard&) = delete;
  shard& operator=(const shard&) = delete;

  mutable shard_mutex mutex;

  entry* find(const prehashed& k) const noexcept;
  /// Record a hit. S3-FIFO needs only the shared lock; LRU needs it exclusively.
  void touch(entry* e) noexcept;

  enum class insert_outcome { stored, needs_credit };
  /// Insert `e` (owning one reference), replacing any entry under the same key and
  /// evicting as needed. Departing entries are appended to `out`. needs_credit: `e`
  /// outweighs this shard's byte limit even empty; nothing changed and `e` is still the
  /// caller's (credit_needed() says by how much).
  insert_outcome insert(entry* e, const prehashed& k, std::uint32_t now_s, departures& out);
  /// Remove the entry under `k` because a put of it was refused (too large).
  void reject(const prehashed& k, std::uint32_t now_s, departures& out);

  // Byte credit. The byte budget is split into shard limits plus a shared pool, and the
  // sum never changes, so the store holds at most max_bytes. A shard whose next entry
  // outweighs its limit borrows: from the pool, then from the other shards (lend), one
  // lock at a time. A shard above its share returns what it no longer uses to the pool,
  // and one below takes its share back from it, at the end of each change (settle_credit).
  std::uint64_t limit() const noexcept { return limit_; }
  void add_credit(std::uint64_t bytes) noexcept { limit_ += bytes; }
  /// Give up to `want` bytes of limit, evicting what no longer fits; returns what it gave.
  std::uint64_t lend(std::uint64_t want, std::uint32_t now_s, departures& out);
  void settle_credit() noexcept;
  bool erase(const prehashed& k, departures& out);
  std::uint64_t erase_prefix(std::string_view prefix, departures& out);
  /// Expire entries whose deadline has passed.
  std::uint64_t reclaim_expired(std::int64_t now_ms, std::uint32_t now_s, departures& out);
  /// The earliest deadline held, or INT64_MAX.
  std::int64_t next_deadline() const noexcept;
  std::uint64_t live_ttl_entries() const noexcept { return live_ttl_entries_; }

  std::uint64_t entries() const noexcept { return index_.size(); }
  std::uint64_t bytes() const noexcept { return bytes_; }
  std::uint64_t evictions() const noexcept { return evictions_; }
  std::uint64_t evicted_bytes() const noexcept { return evicted_bytes_; }
  const eviction_report* last_report() const noexcept { return has_report_ ? &report_ : nullptr; }

  detail::flight_table flights;

 private:
  void link(entry* e, std::size_t hash, std::uint64_t weight, bool to_main);
  void replace(entry* old, entry* e, const prehashed& k, std::uint64_t old_w, std::uint64_t w);
  void track_deadline(entry* e);
  // Unlink from index, order and queue; the caller decides what happens to the reference.
  void unlink(entry* e, std::uint64_t weight, std::size_t hash) noexcept;
  void unlink(entry* e, std::uint64_t weight) noexcept { unlink(e, weight, hash_key(e->key())); }
  void evict_one(eviction_reason reason, std::uint32_t now_s, departures& out);
  void record_eviction(entry* e, std::uint64_t weight, eviction_reason reason, std::uint32_t now_s,
                       departures& out);
  bool ghost_contains(std::size_t hash) const noexcept;
  void ghost_insert(std::size_t hash) noexcept;
  std::uint64_t weight_of(const entry* e) const noexcept {
    return e->weight(memory_store::entry_overhead);
  }

  unsigned index_no_;
  shard_config config_;
  std::uint64_t small_target_entries_;
  std::uint64_t small_target_bytes_;
  std::uint64_t limit_;  // bytes this shard may hold now (its share, plus or minus credit)

  entry_index index_;
  // Key order for invalidate_prefix, built on its first use (see erase_prefix).
  absl::btree_set<entry*, key_less> order_;
  bool ordered_ = false;
  entry_queue small_;  // S3-FIFO probation queue (unused by LRU)
  entry_queue main_;   // S3-FIFO main queue, or the LRU list (front = least recent)
  std::uint64_t bytes_ = 0;

  // Ghost set: recently evicted-from-small key hashes, as 16-bit tag | 16-bit clock.
  std::vector<std::uint32_t> ghost_;
  std::uint32_t ghost_clock_ = 0;
  std::uint32_t ghost_window_ = 0;
  std::uint32_t ghost_clock_divisor_ = 1;
  std::uint64_t ghost_inserts_ = 0;

  // Min-heap of (deadline, entry); each heap slot owns a reference to its entry.
  struct deadline_slot {
    std::int64_t deadline_ms;
    entry* e;
  };
  std::vector<deadline_slot> deadlines_;
  std::uint64_t live_ttl_entries_ = 0;

  std::uint64_t evictions_ = 0;
  std::uint64_t evicted_bytes_ = 0;
  eviction_report report_;
  bool has_report_ = false;
  bool new_batch_ = true;
};

}  // namespace larder::detail::mem
