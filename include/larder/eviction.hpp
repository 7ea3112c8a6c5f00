// What a store reports when it evicts: per-shard reports and a listener.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

namespace larder {

/// Why entries left a store without being erased.
enum class eviction_reason : unsigned char {
  entry_limit,  ///< the shard's entry budget was full
  byte_limit,   ///< the shard's byte budget was full
  entry_and_byte_limit,
  rejected_put,  ///< a put too large for the shard replaced (removed) the old entry
  expired,       ///< the entry's time to live ran out
};

const char* to_string(eviction_reason reason) noexcept;

/// The most recent eviction batch of one shard (one put, one sweep).
struct eviction_report {
  unsigned shard = 0;
  eviction_reason reason = eviction_reason::entry_limit;
  std::uint64_t entries = 0;           ///< entries evicted in the batch
  std::uint64_t bytes = 0;             ///< their weight (key + value + overhead)
  std::chrono::seconds oldest_age{0};  ///< the age of the oldest entry among them
};

/// Told of every evicted entry: its key, its weight and why. Runs outside the store's
/// locks on the thread that caused the eviction; it may call back into the store.
using eviction_listener =
    std::function<void(std::string_view key, std::uint64_t bytes, eviction_reason reason)>;

/// Why an entry left a memory store, for the removal listener.
enum class removal_cause : unsigned char {
  size,                ///< evicted to keep the entry or byte budget
  expired,             ///< its time to live or time to idle ran out
  explicit_removal,    ///< erase()
  replaced,            ///< a put stored a new value under its key
  invalidated_prefix,  ///< invalidate_prefix() matched it
  rejected_put,        ///< a put too large for the store removed the value it held
};

const char* to_string(removal_cause cause) noexcept;

/// Told of every entry that leaves a store, whatever the cause: its key, its weight and
/// why. Same threading and exception rules as eviction_listener.
using removal_listener =
    std::function<void(std::string_view key, std::uint64_t weight, removal_cause cause)>;

}  // namespace larder
