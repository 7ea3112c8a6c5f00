// A log-linear latency histogram in the manner of HdrHistogram: exact below 64 ns, then 32
// buckets per power of two (about 3% resolution) up to 2^63 ns. Recording is an index
// computation and an increment; merging adds the arrays.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace larder::bench {

class latency_histogram {
 public:
  static constexpr unsigned sub_bits = 5;
  static constexpr std::uint64_t sub_count = 1u << sub_bits;  // buckets per power of two
  static constexpr std::size_t bucket_count = (65 - sub_bits) * sub_count;

  /// The bucket of `ns`: values below 2 * sub_count map to themselves; above, the bucket
  /// keeps the top sub_bits + 1 significant bits.
  static constexpr std::size_t index_of(std::uint64_t ns) noexcept {
    if (ns < 2 * sub_count) return static_cast<std::size_t>(ns);
    const unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - sub_bits;
    return static_cast<std::size_t>(shift) * sub_count + static_cast<std::size_t>(ns >> shift);
  }
  /// The smallest and largest value that land in bucket `i`.
  static constexpr std::uint64_t lowest_in(std::size_t i) noexcept {
    if (i < 2 * sub_count) return i;
    const std::size_t shift = i / sub_count - 1;
    return (std::uint64_t{i % sub_count} + sub_count) << shift;
  }
  static constexpr std::uint64_t highest_in(std::size_t i) noexcept {
    if (i + 1 == bucket_count) return std::numeric_limits<std::uint64_t>::max();
    return lowest_in(i + 1) - 1;
  }

  void record(std::uint64_t ns) noexcept {
    ++counts_[index_of(ns)];
    ++total_;
    sum_ += ns;
    min_ = std::min(min_, ns);
    max_ = std::max(max_, ns);
  }

  void merge(const latency_histogram& other) noexcept {
    for (std::size_t i = 0; i < bucket_count; ++i)
      counts_[i] += other.counts_[i];
    total_ += other.total_;
    sum_ += other.sum_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
  }

  /// The value at quantile q in [0, 1]: the midpoint of the bucket holding it, clamped to
  /// the recorded extremes, so a result is never off by more than half a bucket. 0 if empty.
  std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    q = std::clamp(q, 0.0, 1.0);
    // The rank of the q-quantile, counting from 1: ceil(q * total), at least 1.
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (static_cast<double>(rank) < q * static_cast<double>(total_)) ++rank;
    rank = std::clamp<std::uint64_t>(rank, 1, total_);
    if (rank == total_) return max_;  // the largest value is known exactly
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        const std::uint64_t lo = lowest_in(i), hi = highest_in(i);
        return std::clamp(lo + (hi - lo) / 2, min_, max_);
      }
    }
    return max_;
  }

  std::uint64_t count() const noexcept { return total_; }
  std::uint64_t min() const noexcept { return total_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept {
    return total_ ? static_cast<double>(sum_) / static_cast<double>(total_) : 0.0;
  }
  /// Total recorded time.
  std::uint64_t sum() const noexcept { return sum_; }

 private:
  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t max_ = 0;
};

// The bucket edges must tile the range: each bucket starts right after the previous one.
static_assert(latency_histogram::index_of(63) == 63 && latency_histogram::index_of(64) == 64);
static_assert(latency_histogram::lowest_in(latency_histogram::index_of(1000)) <= 1000 &&
              latency_histogram::highest_in(latency_histogram::index_of(1000)) >= 1000);
static_assert(latency_histogram::index_of(~std::uint64_t{0}) ==
              latency_histogram::bucket_count - 1);

}  // namespace larder::bench
