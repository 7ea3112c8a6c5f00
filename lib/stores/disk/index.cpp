#include "stores/disk/index.hpp"

#include <cstring>
#include <new>

namespace larder::detail::disk {

static_assert(sizeof(index_node) == 40, "index_node grew: update docs/PERFORMANCE.md");

namespace {

index_node* make_node(std::string_view key) {
  void* memory = ::operator new(sizeof(index_node) + key.size());
  auto* n = new (memory) index_node;
  n->key_size = static_cast<std::uint32_t>(key.size());
  if (!key.empty()) std::memcpy(static_cast<void*>(n + 1), key.data(), key.size());
  return n;
}

void free_node(index_node* n) noexcept {
  n->~index_node();
  ::operator delete(static_cast<void*>(n));
}

}  // namespace

disk_index::~disk_index() {
  for (auto* n : order_)
    free_node(n);
}

index_node* disk_index::find(std::string_view key) const {
  const auto it = order_.find(key);
  return it == order_.end() ? nullptr : *it;
}

index_node* disk_index::upsert(std::string_view key, bool& created) {
  auto it = order_.lower_bound(key);
  created = it == order_.end() || (*it)->key() != key;
  if (!created) {
    touch(*it);
    return *it;
  }
  auto* n = insert_at(it, key);
  push_back(n);
  return n;
}

index_node* disk_index::insert_least_recent(std::string_view key) {
  auto it = order_.lower_bound(key);
  if (it != order_.end() && (*it)->key() == key) return nullptr;
  auto* n = insert_at(it, key);
  push_front(n);
  return n;
}

index_node* disk_index::insert_at(decltype(order_)::iterator hint, std::string_view key) {
  auto* n = make_node(key);
  try {
    order_.insert(hint, n);
  } catch (...) {
    free_node(n);
    throw;
  }
  return n;
}

void disk_index::touch(index_node* n) noexcept {
  if (n == tail_) return;
  unlink(n);
  push_back(n);
}

void disk_index::remove(index_node* n) {
  order_.erase(n);
  unlink(n);
  free_node(n);
}

std::vector<index_node*> disk_index::with_prefix(std::string_view prefix) const {
  std::vector<index_node*> out;
  for (auto it = order_.lower_bound(prefix); it != order_.end() && (*it)->key().starts_with(prefix);
       ++it)
    out.push_back(*it);
  return out;
}

void disk_index::unlink(index_node* n) noexcept {
  (n->prev ? n->prev->next : head_) = n->next;
  (n->next ? n->next->prev : tail_) = n->prev;
  n->prev = n->next = nullptr;
}

void disk_index::push_back(index_node* n) noexcept {
  n->prev = tail_;
  n->next = nullptr;
  (tail_ ? tail_->next : head_) = n;
  tail_ = n;
}

void disk_index::push_front(index_node* n) noexcept {
  n->next = head_;
  n->prev = nullptr;
  (head_ ? head_->prev : tail_) = n;
  head_ = n;
}

}  // namespace larder::detail::disk
