// The textbook global-lock LRU: one mutex over a hash map and a recency list. This is the
// "synchronized LinkedHashMap" row of Caffeine's and Otter's benchmarks, the floor that a
// concurrent cache is expected to beat by a wide margin on reads.
#pragma once

#include <cstddef>
#include <functional>
#include <iterator>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "larder/blob.hpp"
#include "support/string_hash.hpp"

namespace larder::bench {

/// Strict LRU bounded by an entry count and a byte count (key bytes + value bytes). Every
/// get reorders the list, so every operation, reads included, takes the one lock.
class mutex_lru {
 public:
  mutex_lru(std::size_t max_entries, std::size_t max_bytes)
      : max_entries_(max_entries), max_bytes_(max_bytes) {}
  mutex_lru(const mutex_lru&) = delete;
  mutex_lru& operator=(const mutex_lru&) = delete;

  bool get(std::string_view key, larder::blob& out) {
    larder::blob hit;
    {
      std::lock_guard lock(mutex_);
      const auto it = index_.find(key);
      if (it == index_.end()) return false;
      order_.splice(order_.begin(), order_, it->second);
      hit = it->second->value;
    }
    // Dropping the caller's previous value may free it; keep that out of the lock.
    out = std::move(hit);
    return true;
  }

  /// Stores or replaces. A value that could never fit is refused and the old one kept,
  /// as a larder store refuses with errc::value_too_large.
  void put(std::string_view key, larder::blob value) {
    const std::size_t charge = key.size() + value.size();
    if (max_entries_ == 0 || charge > max_bytes_) return;
    std::lock_guard lock(mutex_);
    if (const auto it = index_.find(key); it != index_.end()) {
      node& n = *it->second;
      bytes_ = bytes_ - n.value.size() + value.size();
      n.value.swap(value);  // the old value is released with `value`, after the lock
      order_.splice(order_.begin(), order_, it->second);
    } else {
      const auto slot = index_.emplace(std::string(key), order_.end()).first;
      try {
        // The list node views the map's copy of the key: unordered_map nodes never move.
        order_.push_front(node{slot->first, std::move(value)});
      } catch (...) {
        index_.erase(slot);
        throw;
      }
      slot->second = order_.begin();
      bytes_ += charge;
    }
    // The new entry is at the front and fits on its own, so it is never the victim.
    while (index_.size() > max_entries_ || bytes_ > max_bytes_)
      evict_lru();
  }

  /// Removes the entry; true when there was one.
  bool erase(std::string_view key) {
    larder::blob dropped;  // released after the lock, as in put
    std::lock_guard lock(mutex_);
    const auto it = index_.find(key);
    if (it == index_.end()) return false;
    bytes_ -= it->first.size() + it->second->value.size();
    dropped.swap(it->second->value);
    order_.erase(it->second);
    index_.erase(it);
    return true;
  }

  /// Removes every entry whose key starts with `prefix`. No ordered index: the whole
  /// list is walked under the lock, the cost a store without one pays.
  std::size_t erase_prefix(std::string_view prefix) {
    std::lock_guard lock(mutex_);
    std::size_t removed = 0;
    for (auto it = order_.begin(); it != order_.end();) {
      if (!it->key.starts_with(prefix)) {
        ++it;
        continue;
      }
      bytes_ -= it->key.size() + it->value.size();
      const auto slot = index_.find(it->key);
      it = order_.erase(it);  // first: its key view points into the map node
      index_.erase(slot);
      ++removed;
    }
    return removed;
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return index_.size();
  }
  std::size_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }
  /// Presence without touching recency, for tests.
  bool contains(std::string_view key) const {
    std::lock_guard lock(mutex_);
    return index_.find(key) != index_.end();
  }

 private:
  struct node {
    std::string_view key;
    larder::blob value;
  };
  using list_type = std::list<node>;

  void evict_lru() {
    const node& victim = order_.back();
    const auto slot = index_.find(victim.key);
    bytes_ -= victim.key.size() + victim.value.size();
    order_.pop_back();   // first: its key view points into the map node
    index_.erase(slot);  // then the node that owns the key
  }

  mutable std::mutex mutex_;
  list_type order_;  // front = most recently used
  std::unordered_map<std::string, list_type::iterator, string_hash, std::equal_to<>> index_;
  std::size_t bytes_ = 0;
  const std::size_t max_entries_;
  const std::size_t max_bytes_;
};

}  // namespace larder::bench
