// The workload, generated before any timing: keys, each key's value size, and one trace
// of (key, operation) per thread, so the timed loop only indexes into arrays.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "larder/blob.hpp"
#include "larder_bench/options.hpp"

namespace larder::bench {

/// What one step of a trace does. fill (the put after a missed get) and flush are not
/// drawn from the mix; they are listed so that every timed kind has a histogram slot.
enum class op_kind : std::uint8_t { get, put, invalidate, fill, flush };
inline constexpr std::size_t op_kind_count = 5;
const char* op_name(op_kind k) noexcept;

struct thread_trace {
  std::vector<std::uint32_t> keys;  ///< key ids
  std::vector<op_kind> ops;         ///< get, put or invalidate, same length as keys
};

class workload {
 public:
  /// Keys are 32 pseudo-random bytes (shaped like a fingerprint key, as larder is keyed in
  /// practice). Traces cycle when a run outlasts them.
  explicit workload(const bench_config& config);

  std::string_view key(std::uint32_t id) const noexcept {
    return std::string_view(key_bytes_).substr(std::size_t{id} * key_size, key_size);
  }
  std::uint32_t value_size(std::uint32_t id) const noexcept { return value_sizes_[id]; }
  std::uint32_t key_count() const noexcept {
    return static_cast<std::uint32_t>(value_sizes_.size());
  }
  const thread_trace& trace(unsigned thread) const noexcept { return traces_[thread]; }
  /// Mean value size over the key space (not weighted by popularity).
  double mean_value_size() const noexcept { return mean_value_size_; }
  /// Sum of all keys' value sizes: the bytes a store needs to hold every key.
  std::uint64_t total_value_bytes() const noexcept { return total_value_bytes_; }

  /// The value a put of key `id` stores: the id in the first eight bytes, then a pattern
  /// derived from it, so a hit can be checked without keeping the values.
  blob make_value(std::uint32_t id) const;
  /// Whether `value` is exactly what make_value(id) returns.
  bool value_matches(std::uint32_t id, const blob& value) const noexcept;

  static constexpr std::size_t key_size = 32;

 private:
  std::string key_bytes_;
  std::vector<std::uint32_t> value_sizes_;
  std::vector<thread_trace> traces_;
  double mean_value_size_ = 0;
  std::uint64_t total_value_bytes_ = 0;
};

}  // namespace larder::bench
