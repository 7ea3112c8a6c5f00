// Key traces for the benchmarks. A trace is generated once, before any timing, so that the
// timed loops only index into vectors: no sampling, no formatting, no allocation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace larder::bench {

// Fixed so that every run of every benchmark sees the same trace unless told otherwise.
inline constexpr std::uint64_t default_seed = 0x6c61726465720001ULL;  // "larder" + 1

/// The SplitMix64 output function: a bijection on 64-bit words, so distinct ids stay
/// distinct after mixing.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// SplitMix64: tiny, fast, and (unlike std::uniform_*_distribution) gives the same
/// numbers with every standard library, so traces are reproducible across machines.
class splitmix64 {
 public:
  using result_type = std::uint64_t;

  explicit splitmix64(std::uint64_t seed = default_seed) noexcept : state_(seed) {}

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }
  result_type operator()() noexcept { return mix64(state_ += 0x9e3779b97f4a7c15ULL); }

  /// Uniform in [0, 1): the top 53 bits fill a double's mantissa exactly.
  double next_unit() noexcept { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  /// Uniform in [0, bound) by multiply-shift; the bias (< 2^-32) is far below what any
  /// benchmark can observe and avoids a division per draw.
  std::uint32_t next_below(std::uint32_t bound) noexcept {
    return static_cast<std::uint32_t>((((*this)() >> 32) * bound) >> 32);
  }

 private:
  std::uint64_t state_;
};

/// Zipf(alpha) over ranks 0..keys-1: P(rank r) is proportional to 1 / (r + 1)^alpha, so
/// rank 0 is the most popular. Sampling inverts the exact CDF (a precomputed table and a
/// binary search) rather than using a rejection approximation, so the frequencies match
/// the formula for every alpha, including alpha <= 1 where the closed forms break down.
class zipf_distribution {
 public:
  zipf_distribution(std::uint32_t keys, double alpha) : alpha_(alpha) {
    if (keys == 0) throw std::invalid_argument("zipf_distribution: no keys");
    if (!(alpha >= 0.0)) throw std::invalid_argument("zipf_distribution: alpha < 0");
    cdf_.resize(keys);
    double sum = 0.0;
    for (std::uint32_t r = 0; r < keys; ++r) {
      sum += std::pow(static_cast<double>(r) + 1.0, -alpha);
      cdf_[r] = sum;
    }
    for (double& c : cdf_)
      c /= sum;
    // Rounding may leave the last entry a hair below 1; a draw above it would run off the end.
    cdf_.back() = 1.0;
  }

  template <class Rng>
  std::uint32_t operator()(Rng& rng) const noexcept {
    const double u = rng.next_unit();  // in [0, 1), and cdf_.back() == 1, so never end()
    return static_cast<std::uint32_t>(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

  double probability(std::uint32_t rank) const noexcept {
    if (rank >= cdf_.size()) return 0.0;
    return rank == 0 ? cdf_[0] : cdf_[rank] - cdf_[rank - 1];
  }
  std::uint32_t keys() const noexcept { return static_cast<std::uint32_t>(cdf_.size()); }
  double alpha() const noexcept { return alpha_; }

 private:
  std::vector<double> cdf_;
  double alpha_;
};

/// `length` key ids drawn from Zipf(alpha) over `keys` ids; id == popularity rank. The
/// key strings (see make_keys) hash well, so rank order does not leak into shard choice.
inline std::vector<std::uint32_t> zipf_trace(std::uint32_t keys, double alpha, std::size_t length,
                                             std::uint64_t seed = default_seed) {
  const zipf_distribution dist(keys, alpha);
  splitmix64 rng(seed);
  std::vector<std::uint32_t> trace(length);
  for (auto& id : trace)
    id = dist(rng);
  return trace;
}

inline std::vector<std::uint32_t> uniform_trace(std::uint32_t keys, std::size_t length,
                                                std::uint64_t seed = default_seed) {
  if (keys == 0) throw std::invalid_argument("uniform_trace: no keys");
  splitmix64 rng(seed);
  std::vector<std::uint32_t> trace(length);
  for (auto& id : trace)
    id = rng.next_below(keys);
  return trace;
}

/// A Zipf-popular working set disturbed by one-pass scans (a backup, a crawler, a batch
/// job). Scans are what break plain LRU: each one is 10x the cache capacity long, so an
/// LRU that admits it loses its whole hot set.
struct scan_mix_options {
  std::uint32_t hot_keys = 10'000;  ///< ids [0, hot_keys), Zipf(alpha) by rank
  double alpha = 1.0;
  std::size_t capacity = 1'000;  ///< the cache capacity (entries) the scans are sized against
  double scan_fraction = 0.2;    ///< share of requests that belong to scans, in [0, 1]
  /// ids [hot_keys, hot_keys + cold_keys), visited in order; later scans continue where the
  /// previous one stopped, so a cold key recurs only after cold_keys scan requests.
  std::uint32_t cold_keys = 1'000'000;
};

/// Ids a scan-mix trace may contain: size make_keys() with this.
inline std::uint32_t key_count(const scan_mix_options& o) noexcept {
  return o.hot_keys + o.cold_keys;
}

/// Alternates a run of Zipf requests with one scan of 10 * capacity cold ids. The runs are
/// of fixed length, so every period holds exactly the requested scan fraction.
inline std::vector<std::uint32_t> scan_mix_trace(const scan_mix_options& o, std::size_t length,
                                                 std::uint64_t seed = default_seed) {
  if (!(o.scan_fraction >= 0.0 && o.scan_fraction <= 1.0))
    throw std::invalid_argument("scan_mix_trace: scan_fraction outside [0, 1]");
  if (o.scan_fraction > 0.0 && (o.cold_keys == 0 || o.capacity == 0))
    throw std::invalid_argument("scan_mix_trace: scans need cold keys and a capacity");
  if (o.scan_fraction < 1.0 && o.hot_keys == 0)
    throw std::invalid_argument("scan_mix_trace: no hot keys");

  const std::size_t scan_length = o.scan_fraction > 0.0 ? 10 * o.capacity : 0;
  const std::size_t hot_run =
      o.scan_fraction >= 1.0 ? 0
                             : (scan_length == 0 ? length
                                                 : static_cast<std::size_t>(std::llround(
                                                       static_cast<double>(scan_length) *
                                                       (1.0 - o.scan_fraction) / o.scan_fraction)));
  std::vector<std::uint32_t> trace;
  trace.reserve(length);
  splitmix64 rng(seed);
  std::uint32_t cold_cursor = 0;
  const auto hot = o.hot_keys > 0 ? zipf_distribution(o.hot_keys, o.alpha)
                                  : zipf_distribution(1, o.alpha);  // unused: all scans
  while (trace.size() < length) {
    for (std::size_t i = 0; i < hot_run && trace.size() < length; ++i)
      trace.push_back(hot(rng));
    for (std::size_t i = 0; i < scan_length && trace.size() < length; ++i) {
      trace.push_back(o.hot_keys + cold_cursor);
      if (++cold_cursor == o.cold_keys) cold_cursor = 0;
    }
  }
  return trace;
}

/// How ids become key strings.
enum class key_style {
  /// 32 pseudo-random bytes, shaped like a fingerprint::key(), which is what larder is
  /// keyed by in practice. The first byte is spread evenly over all 256 values; that
  /// matters because the seed store shards on the first byte, and a shared textual
  /// prefix would put every key in one of its shards.
  fingerprint,
  /// "key:" + 10 decimal digits (14 bytes, fits std::string's small buffer). Readable in
  /// a debugger, but every key starts with 'k'.
  readable,
};

inline std::string key_for(std::uint32_t id, key_style style = key_style::fingerprint) {
  if (style == key_style::readable) {
    char text[16];
    std::snprintf(text, sizeof text, "key:%010u", static_cast<unsigned>(id));
    return std::string(text, 14);
  }
  std::string key(32, '\0');
  for (std::size_t word = 0; word < 4; ++word) {
    // Word 0 is mix64(id), a bijection, so distinct ids always give distinct keys.
    const std::uint64_t bits = mix64(id + word * 0x9e3779b97f4a7c15ULL);
    for (std::size_t b = 0; b < 8; ++b)
      key[word * 8 + b] = static_cast<char>(static_cast<unsigned char>(bits >> (8 * b)));
  }
  return key;
}

/// Key strings for ids [0, count), precomputed so the timed loop does no formatting.
inline std::vector<std::string> make_keys(std::uint32_t count,
                                          key_style style = key_style::fingerprint) {
  std::vector<std::string> keys;
  keys.reserve(count);
  for (std::uint32_t id = 0; id < count; ++id)
    keys.push_back(key_for(id, style));
  return keys;
}

}  // namespace larder::bench
