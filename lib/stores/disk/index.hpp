// disk_store's in-memory index: key, file size and last use of every entry on disk.
//
// Compact on purpose (the bar is 64 bytes per entry beyond the key): one allocation per
// entry holds its links, size, generation and key bytes; an Abseil B-tree of node pointers
// orders the keys, serving lookups and prefix ranges; an intrusive list keeps last-use
// order for eviction. Two std::maps (key order and tick order, with a second copy of the
// key) cost ~180 bytes per entry. Not thread-safe: disk_store guards it with its mutex.
#pragma once

#include <absl/container/btree_set.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace larder::detail::disk {

struct index_node {
  index_node* prev = nullptr;  // towards the least recently used
  index_node* next = nullptr;
  std::uint64_t size = 0;  // whole file: header, key, payload, footer
  // Bumped by every put, so that a get that found the file missing or corrupt drops the
  // entry only if no newer put replaced it meanwhile.
  std::uint64_t generation = 0;
  std::uint32_t key_size = 0;
  // The fan-out directory (the first byte of BLAKE3(key)), so that a refresh of a shared
  // root finds a directory's entries without hashing every key. In what was padding.
  std::uint8_t dir = 0;

  std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), key_size};
  }
};

class disk_index {
 public:
  disk_index() = default;
  ~disk_index();
  disk_index(const disk_index&) = delete;
  disk_index& operator=(const disk_index&) = delete;

  std::size_t size() const noexcept { return order_.size(); }
  index_node* find(std::string_view key) const;
  /// The node of `key`, made the most recently used; created (size 0) when missing.
  /// `created` tells which.
  index_node* upsert(std::string_view key, bool& created);
  /// A new node for `key` (size 0) as the least recently used, or nullptr when `key` is
  /// already indexed (left as it is): what the background scan merges is older than
  /// anything put since the open.
  index_node* insert_least_recent(std::string_view key);
  /// Makes `n` the most recently used.
  void touch(index_node* n) noexcept;
  /// Forgets `n` and frees it.
  void remove(index_node* n);
  index_node* least_recent() const noexcept { return head_; }
  /// Nodes whose key starts with `prefix`, in key order.
  std::vector<index_node*> with_prefix(std::string_view prefix) const;

  /// Least recently used first.
  template <class F>
  void for_each_by_use(F&& f) const {
    for (auto* n = head_; n; n = n->next)
      f(*n);
  }

 private:
  struct key_less {
    using is_transparent = void;
    bool operator()(const index_node* a, const index_node* b) const noexcept {
      return a->key() < b->key();
    }
    bool operator()(const index_node* a, std::string_view b) const noexcept { return a->key() < b; }
    bool operator()(std::string_view a, const index_node* b) const noexcept { return a < b->key(); }
  };

  absl::btree_set<index_node*, key_less> order_;
  index_node* head_ = nullptr;
  index_node* tail_ = nullptr;

  // A new node for `key` in the key order at `hint` (its lower bound), in neither list yet.
  index_node* insert_at(decltype(order_)::iterator hint, std::string_view key);
  void unlink(index_node* n) noexcept;
  void push_back(index_node* n) noexcept;
  void push_front(index_node* n) noexcept;
};

}  // namespace larder::detail::disk
