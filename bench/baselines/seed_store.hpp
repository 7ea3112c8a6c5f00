// The seed's in-memory store, rebuilt from its description (shared/brief/anchors.md) as
// the baseline larder::memory_store must beat: 256 mutex-guarded shards, an LRU tick per
// entry, and eviction by a linear scan for the oldest tick.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "larder/blob.hpp"
#include "support/string_hash.hpp"

namespace larder::bench {

/// Same get/put surface as mutex_lru. Budgets are split evenly: each shard may hold
/// max_entries / 256 entries and max_bytes / 256 bytes (key + value bytes), so a total
/// below 256 leaves every shard with a budget of zero, as in the seed.
class seed_store {
 public:
  static constexpr std::size_t shard_count = 256;

  seed_store(std::size_t max_entries, std::size_t max_bytes)
      : shard_entries_(max_entries / shard_count),
        shard_bytes_(max_bytes / shard_count),
        shards_(std::make_unique<shard[]>(shard_count)) {}
  seed_store(const seed_store&) = delete;
  seed_store& operator=(const seed_store&) = delete;

  /// The seed picks the shard by the key's first byte, not by a hash. That is its design,
  /// kept on purpose: with fingerprint keys the first byte is uniform, but keys sharing a
  /// textual prefix all land in one shard (and one 1/256 budget).
  static std::size_t shard_of(std::string_view key) noexcept {
    return key.empty() ? 0 : static_cast<unsigned char>(key.front()) % shard_count;
  }

  bool get(std::string_view key, larder::blob& out) {
    shard& s = shards_[shard_of(key)];
    larder::blob hit;
    {
      std::lock_guard lock(s.mutex_);
      const auto it = s.map_.find(key);
      if (it == s.map_.end()) return false;
      it->second.tick = ++s.tick_;
      hit = it->second.value;
    }
    out = std::move(hit);  // may free the caller's old value: not under the shard lock
    return true;
  }

  void put(std::string_view key, larder::blob value) {
    const std::size_t charge = key.size() + value.size();
    if (shard_entries_ == 0 || charge > shard_bytes_) return;  // could never fit
    shard& s = shards_[shard_of(key)];
    std::lock_guard lock(s.mutex_);
    const std::uint64_t tick = ++s.tick_;
    if (const auto it = s.map_.find(key); it != s.map_.end()) {
      s.bytes_ = s.bytes_ - it->second.value.size() + value.size();
      it->second.value.swap(value);  // old value released after the lock, with `value`
      it->second.tick = tick;
    } else {
      s.map_.emplace(std::string(key), entry{std::move(value), tick});
      s.bytes_ += charge;
    }
    // The new entry carries the newest tick and fits alone, so it is never the victim.
    while (s.map_.size() > shard_entries_ || s.bytes_ > shard_bytes_)
      evict_oldest(s);
  }

  /// Removes the entry; true when there was one.
  bool erase(std::string_view key) {
    shard& s = shards_[shard_of(key)];
    larder::blob dropped;  // released after the shard lock
    std::lock_guard lock(s.mutex_);
    const auto it = s.map_.find(key);
    if (it == s.map_.end()) return false;
    s.bytes_ -= it->first.size() + it->second.value.size();
    dropped.swap(it->second.value);
    s.map_.erase(it);
    return true;
  }

  /// Removes every entry whose key starts with `prefix`: every shard is scanned in full,
  /// as the seed has no ordered index.
  std::size_t erase_prefix(std::string_view prefix) {
    std::size_t removed = 0;
    for (std::size_t i = 0; i < shard_count; ++i) {
      shard& s = shards_[i];
      std::lock_guard lock(s.mutex_);
      for (auto it = s.map_.begin(); it != s.map_.end();) {
        if (std::string_view(it->first).starts_with(prefix)) {
          s.bytes_ -= it->first.size() + it->second.value.size();
          it = s.map_.erase(it);
          ++removed;
        } else {
          ++it;
        }
      }
    }
    return removed;
  }

  std::size_t size() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shard_count; ++i) {
      std::lock_guard lock(shards_[i].mutex_);
      n += shards_[i].map_.size();
    }
    return n;
  }
  /// Presence without stamping a tick, for tests.
  bool contains(std::string_view key) const {
    const shard& s = shards_[shard_of(key)];
    std::lock_guard lock(s.mutex_);
    return s.map_.find(key) != s.map_.end();
  }
  std::size_t shard_entry_budget() const noexcept { return shard_entries_; }
  std::size_t shard_byte_budget() const noexcept { return shard_bytes_; }

 private:
  struct entry {
    larder::blob value;
    std::uint64_t tick;  // shard tick at the last get or put: smaller = less recent
  };
  // Cache-line aligned so neighbouring shard locks do not false-share: the baseline gets
  // the benefit of the doubt, so a win against it is not a win against a strawman.
  struct alignas(64) shard {
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry, string_hash, std::equal_to<>> map_;
    std::uint64_t tick_ = 0;
    std::size_t bytes_ = 0;
  };

  // O(n) in the shard size: the cost the seed pays on every eviction.
  static void evict_oldest(shard& s) {
    auto oldest = s.map_.begin();
    for (auto it = s.map_.begin(); it != s.map_.end(); ++it)
      if (it->second.tick < oldest->second.tick) oldest = it;
    s.bytes_ -= oldest->first.size() + oldest->second.value.size();
    s.map_.erase(oldest);
  }

  const std::size_t shard_entries_;
  const std::size_t shard_bytes_;
  std::unique_ptr<shard[]> shards_;
};

}  // namespace larder::bench
