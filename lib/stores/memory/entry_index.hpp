// A shard's key index: an open-addressing table of entry pointers sized to the shard's
// entry budget.
//
// Why not absl::flat_hash_set (which this replaced): its capacity is always 2^k - 1 with a
// 7/8 load ceiling, so a shard budget just above a power of two (1M entries over 64 shards
// is 15,625 per shard) keeps the table at 48% load for good: 18.9 bytes per entry. This
// table takes any capacity, grows by doubling until it reaches the budget's size, and
// then sits at 80% load when full: 10 bytes per entry (docs/PERFORMANCE.md).
//
// Linear probing. Each 8-byte slot packs the entry pointer (user-space pointers use the
// low 48 bits on x86-64 and AArch64) with a 16-bit tag of the key's hash, so a probe
// dereferences an entry only when the tag matches. Deletion shifts the following run back
// (no tombstones). Up to 2^16 slots an entry's home is a function of its tag, so deletion
// and growth never touch the entries; larger tables recompute homes from the keys.
// Readers may probe concurrently under a shared lock; every mutation needs it exclusive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include <functional>

#include "stores/memory/entry.hpp"

namespace larder::detail::mem {

/// A key with its hash, computed once per operation and shared by shard choice, index
/// probe and ghost set.
struct prehashed {
  std::string_view key;
  std::size_t hash;
};

// The index hash is fixed, not seeded per process (absl::Hash mixes in an address, so
// under ASLR the shard and ghost-set placement, and hence hit ratios, changed from run
// to run; issue 18). libstdc++'s std::hash for strings is a fixed-seed byte hash; the
// multiply-xorshift finaliser spreads it over the top bits (shard choice) and the low
// 16 bits (index tag) alike. The cost: keys are no longer salted against collision
// flooding, which the bounded probe length of a shard's table limits to that shard.
inline std::size_t hash_key(std::string_view key) noexcept {
  std::uint64_t h = std::hash<std::string_view>{}(key);
  h ^= h >> 32;
  h *= 0xd6e8feb86659fd93ULL;
  h ^= h >> 32;
  return static_cast<std::size_t>(h);
}

class entry_index {
 public:
  /// `max_entries`: the most entries the owning shard keeps; the table stops doubling
  /// once it can hold that many at 80% load.
  explicit entry_index(std::uint64_t max_entries) noexcept;
  ~entry_index() = default;
  entry_index(const entry_index&) = delete;
  entry_index& operator=(const entry_index&) = delete;

  std::uint64_t size() const noexcept { return size_; }
  std::uint64_t capacity() const noexcept { return capacity_; }

  entry* find(const prehashed& k) const noexcept;
  /// Adds `e`, whose key must not be indexed yet; `hash` is hash_key(e->key()).
  void insert(entry* e, std::size_t hash);
  /// Removes `e`, which must be indexed under `hash`.
  void erase(const entry* e, std::size_t hash) noexcept;
  /// Puts `e` in the slot of `old`, which holds the same key.
  void replace(const entry* old, entry* e, std::size_t hash) noexcept;

  template <class F>
  void for_each(F&& f) const {
    for (std::uint64_t i = 0; i < capacity_; ++i)
      if (slots_[i] != 0) f(pointer(slots_[i]));
  }

 private:
  static constexpr unsigned pointer_bits = 48;
  static constexpr std::uint64_t pointer_mask = (std::uint64_t{1} << pointer_bits) - 1;

  static entry* pointer(std::uint64_t slot) noexcept {
    return reinterpret_cast<entry*>(slot & pointer_mask);
  }
  static std::uint64_t tag(std::size_t hash) noexcept {
    return static_cast<std::uint64_t>(hash & 0xffff) << pointer_bits;
  }
  static constexpr std::uint64_t tag_homed_capacity = std::uint64_t{1} << 16;
  std::uint64_t home(std::size_t hash) const noexcept;
  std::uint64_t home_of_tag(std::uint64_t tag16) const noexcept {
    return (tag16 * capacity_) >> 16;
  }
  // The home of an occupied slot under the current capacity.
  std::uint64_t home_of_slot(std::uint64_t slot) const noexcept;
  // A hash that places `slot`'s entry right after a resize: its tag where the new table
  // homes by tag (the low 16 bits are all it reads), else the key's hash.
  std::size_t rehash_of(std::uint64_t slot) const noexcept {
    if (capacity_ <= tag_homed_capacity) return static_cast<std::size_t>(slot >> pointer_bits);
    return hash_key(pointer(slot)->key());
  }
  std::uint64_t next(std::uint64_t i) const noexcept { return i + 1 == capacity_ ? 0 : i + 1; }
  std::uint64_t slot_of(const entry* e, std::size_t hash) const noexcept;
  void place(std::uint64_t slot, std::size_t hash) noexcept;
  void grow();

  std::unique_ptr<std::uint64_t[]> slots_;
  std::uint64_t capacity_ = 0;
  std::uint64_t size_ = 0;
  std::uint64_t grow_at_ = 0;
  std::uint64_t budget_capacity_;
};

}  // namespace larder::detail::mem
