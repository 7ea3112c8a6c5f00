#include "stores/memory/entry_index.hpp"

#include <algorithm>
#include <cassert>

namespace larder::detail::mem {

// Linux keeps user mappings below 2^47 (x86-64 with 5-level paging and AArch64 with 52-bit
// addresses hand out higher ones only to an mmap that asks with a high hint, which malloc
// never does), so the top 16 bits of an entry's address are free for the tag.
static_assert(sizeof(void*) == 8, "entry_index packs a tag into 64-bit pointers");
#if !defined(__linux__)
#error "entry_index relies on Linux's 47-bit user address space"
#endif

namespace {

__extension__ using u128 = unsigned __int128;  // GCC and Clang; -Wpedantic wants the marker

constexpr std::uint64_t min_capacity = 16;

// 80% load: linear probing's unsuccessful searches average ~13 slots there (two cache
// lines of tags) while a full table costs 10 bytes per entry.
constexpr std::uint64_t load_ceiling(std::uint64_t capacity) noexcept {
  return capacity / 5 * 4 + capacity % 5 * 4 / 5;
}

}  // namespace

entry_index::entry_index(std::uint64_t max_entries) noexcept {
  // The capacity at which a full shard sits at the load ceiling; saturates for huge budgets.
  const std::uint64_t wanted = max_entries > (UINT64_MAX / 2) ? UINT64_MAX / 2 : max_entries;
  budget_capacity_ = std::max(min_capacity, wanted + wanted / 4 + 1);
}

std::uint64_t entry_index::home(std::size_t hash) const noexcept {
  // Tables up to 2^16 slots take the home from the tag alone, so that deletion can find
  // the home of every entry it shifts from the slot, without touching the entry.
  if (capacity_ <= tag_homed_capacity)
    return home_of_tag(static_cast<std::uint64_t>(hash) & 0xffff);
  // The shard was chosen by the hash's top bits, which are therefore equal for every key
  // here: scale the low 48 bits into [0, capacity) instead.
  const auto scaled = static_cast<u128>(static_cast<std::uint64_t>(hash) << 16);
  return static_cast<std::uint64_t>((scaled * capacity_) >> 64);
}

std::uint64_t entry_index::home_of_slot(std::uint64_t slot) const noexcept {
  if (capacity_ <= tag_homed_capacity) return home_of_tag(slot >> pointer_bits);
  return home(hash_key(pointer(slot)->key()));
}

entry* entry_index::find(const prehashed& k) const noexcept {
  if (size_ == 0) return nullptr;
  const auto t = tag(k.hash);
  for (auto i = home(k.hash);; i = next(i)) {
    const auto slot = slots_[i];
    if (slot == 0) return nullptr;
    if ((slot & ~pointer_mask) == t) {
      entry* e = pointer(slot);
      if (e->key() == k.key) return e;
    }
  }
}

void entry_index::place(std::uint64_t slot, std::size_t hash) noexcept {
  auto i = home(hash);
  while (slots_[i] != 0)
    i = next(i);
  slots_[i] = slot;
}

void entry_index::insert(entry* e, std::size_t hash) {
  assert((reinterpret_cast<std::uintptr_t>(e) & ~pointer_mask) == 0);
  if (size_ + 1 > grow_at_) grow();
  place(reinterpret_cast<std::uintptr_t>(e) | tag(hash), hash);
  ++size_;
}

std::uint64_t entry_index::slot_of(const entry* e, std::size_t hash) const noexcept {
  auto i = home(hash);
  while (pointer(slots_[i]) != e) {
    assert(slots_[i] != 0);
    i = next(i);
  }
  return i;
}

void entry_index::replace(const entry* old, entry* e, std::size_t hash) noexcept {
  slots_[slot_of(old, hash)] = reinterpret_cast<std::uintptr_t>(e) | tag(hash);
}

void entry_index::erase(const entry* e, std::size_t hash) noexcept {
  auto hole = slot_of(e, hash);
  // Backward-shift deletion: walk the run after the hole and move back every entry whose
  // home does not lie cyclically in (hole, j], so that no probe path crosses an empty slot.
  for (auto j = next(hole); slots_[j] != 0; j = next(j)) {
    const auto h = home_of_slot(slots_[j]);
    const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole] = 0;
  --size_;
}

void entry_index::grow() {
  std::uint64_t capacity = capacity_ == 0 ? min_capacity : capacity_ * 2;
  // Stop at the budget's size; past it (a budget the shard cannot reach) keep doubling.
  if (capacity_ < budget_capacity_) capacity = std::min(capacity, budget_capacity_);
  auto old = std::move(slots_);
  const auto old_capacity = capacity_;
  slots_ = std::make_unique<std::uint64_t[]>(capacity);  // value-initialised: all empty
  capacity_ = capacity;
  grow_at_ = load_ceiling(capacity);
  for (std::uint64_t i = 0; i < old_capacity; ++i)
    if (old[i] != 0) place(old[i], rehash_of(old[i]));
}

}  // namespace larder::detail::mem
