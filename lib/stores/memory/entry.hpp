// One memory-store entry: a blob_rep whose single allocation holds the bookkeeping, the
// key and (for small values) the value, so a hit shares the entry itself.
#pragma once

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

#include "larder/blob.hpp"

namespace larder::detail::mem {

enum entry_flag : std::uint8_t {
  flag_external = 1,  // the value area holds a blob object, not the bytes
  flag_ttl = 2,       // a deadline follows the value area
  flag_live = 4,      // indexed by its shard (cleared when removed)
  flag_main = 8,      // S3-FIFO: in the main queue (else the small one)
  flag_idle = 16,     // an idle deadline (time to idle) is in the extras
  flag_weighed = 32,  // a weigher's weight is in the extras (else key + value + overhead)
};

// What an entry carries beyond its key and value, each only when asked for.
struct entry_extras {
  bool ttl = false;
  bool idle = false;
  bool weighed = false;
};

// Layout: [entry (40 bytes)][key][value bytes | blob object][pad to 8][extras], where the
// extras are, in this order and each only when its flag is set: the TTL deadline, the
// idle deadline, the weight (8 bytes each, aligned so that the idle deadline, refreshed by
// readers under a shared lock, can be accessed atomically).
// blob_rep::owner_word carries key size (bytes 0-1), frequency (byte 2) and flags
// (byte 3). Readers under a shared shard lock bump the frequency byte concurrently, so
// that byte alone is accessed atomically and the others are never written then.
struct entry : blob_rep {
  entry* prev = nullptr;
  entry* next = nullptr;
  std::uint32_t value_size = 0;  // bytes of the value (inline or external)
  std::uint32_t inserted_s = 0;  // seconds since the store started, for eviction ages

  static entry* create(std::string_view key, const blob& value, bool inline_value,
                       entry_extras extras);

  std::size_t key_size() const noexcept {
    std::uint16_t n;
    std::memcpy(&n, word(), sizeof n);
    return n;
  }
  std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(this + 1), key_size()};
  }

  std::uint8_t flags() const noexcept { return word()[3]; }
  void set_flag(entry_flag f) noexcept { word()[3] |= f; }
  void clear_flag(entry_flag f) noexcept { word()[3] &= static_cast<std::uint8_t>(~f); }
  bool has(entry_flag f) const noexcept { return (flags() & f) != 0; }

  std::uint8_t freq() const noexcept {
    // atomic_ref needs a non-const object; loading does not modify it.
    return std::atomic_ref<std::uint8_t>(const_cast<std::uint8_t&>(word()[2]))
        .load(std::memory_order_relaxed);
  }
  void set_freq(std::uint8_t f) noexcept {
    std::atomic_ref<std::uint8_t>(word()[2]).store(f, std::memory_order_relaxed);
  }
  // Saturating at `cap`; racing readers may lose an increment, which only nudges policy.
  void bump_freq(std::uint8_t cap) noexcept {
    const auto f = freq();
    if (f < cap) set_freq(static_cast<std::uint8_t>(f + 1));
  }

  /// A blob sharing this entry's value; the caller must hold the shard lock.
  blob value() noexcept {
    if (has(flag_external)) return *external();
    return blob_access::share(this, value_area(), value_size);
  }

  std::int64_t deadline_ms() const noexcept { return *extra(0); }
  void set_deadline_ms(std::int64_t d) noexcept { *extra(0) = d; }

  /// The idle deadline (flag_idle): readers under a shared lock move it on every hit.
  std::int64_t idle_deadline_ms() const noexcept {
    return std::atomic_ref<std::int64_t>(*extra(idle_slot())).load(std::memory_order_relaxed);
  }
  void set_idle_deadline_ms(std::int64_t d) noexcept {
    std::atomic_ref<std::int64_t>(*extra(idle_slot())).store(d, std::memory_order_relaxed);
  }
  /// The earliest of the deadlines this entry has, or INT64_MAX.
  std::int64_t effective_deadline_ms() const noexcept {
    std::int64_t d = INT64_MAX;
    if (has(flag_ttl)) d = deadline_ms();
    if (has(flag_idle)) d = std::min(d, idle_deadline_ms());
    return d;
  }
  bool expires() const noexcept { return (flags() & (flag_ttl | flag_idle)) != 0; }

  void set_weight(std::uint64_t w) noexcept {
    *extra(weight_slot()) = static_cast<std::int64_t>(w);
  }
  /// Weight against the byte budget: the weigher's, else key + value + `overhead`.
  std::uint64_t weight(std::size_t overhead) const noexcept {
    if (has(flag_weighed)) return static_cast<std::uint64_t>(*extra(weight_slot()));
    return key_size() + value_size + overhead;
  }

 private:
  std::uint8_t* word() noexcept { return reinterpret_cast<std::uint8_t*>(&owner_word); }
  const std::uint8_t* word() const noexcept {
    return reinterpret_cast<const std::uint8_t*>(&owner_word);
  }
  std::byte* value_area() noexcept {
    return reinterpret_cast<std::byte*>(this + 1) + external_offset_pad(key_size());
  }
  const std::byte* value_area() const noexcept { return const_cast<entry*>(this)->value_area(); }
  blob* external() noexcept { return std::launder(reinterpret_cast<blob*>(value_area())); }
  // Offset of the extras from the entry's start: 8-aligned (the allocation is 16-aligned).
  static std::size_t extras_offset(std::size_t value_end) noexcept { return (value_end + 7) & ~7u; }
  std::int64_t* extra(unsigned slot) const noexcept {
    auto* self = reinterpret_cast<std::byte*>(const_cast<entry*>(this));
    const auto value_end = static_cast<std::size_t>(
        const_cast<entry*>(this)->value_area() - self +
        static_cast<std::ptrdiff_t>(has(flag_external) ? sizeof(blob) : value_size));
    return std::launder(
        reinterpret_cast<std::int64_t*>(self + extras_offset(value_end) + 8 * slot));
  }
  unsigned idle_slot() const noexcept { return has(flag_ttl) ? 1 : 0; }
  unsigned weight_slot() const noexcept { return idle_slot() + (has(flag_idle) ? 1 : 0); }
  // Inline bytes follow the key directly; an external blob object needs alignment.
  std::size_t external_offset_pad(std::size_t key_size) const noexcept {
    if (!has(flag_external)) return key_size;
    return (sizeof(entry) + key_size + alignof(blob) - 1) / alignof(blob) * alignof(blob) -
           sizeof(entry);
  }
  static void destroy_entry(blob_rep* rep) noexcept;
};

static_assert(sizeof(entry) == 40, "entry header grew: update docs/PERFORMANCE.md");

/// Drop the store's reference (the memory goes when no reader holds a blob of it).
inline void release(entry* e) noexcept {
  blob_release(e);
}

}  // namespace larder::detail::mem
