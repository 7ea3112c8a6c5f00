#include "larder_bench/workload.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "support/zipf.hpp"

namespace larder::bench {
namespace {

// Long enough that a thread's trace does not repeat within a typical run's hot set,
// short enough (5 bytes a step) that generating it stays well under a second.
constexpr std::size_t max_trace_length = std::size_t{1} << 21;

std::uint32_t draw_size(const size_distribution& d, splitmix64& rng) {
  switch (d.shape) {
    case size_distribution::kind::fixed:
      return static_cast<std::uint32_t>(d.min);
    case size_distribution::kind::uniform:
      return static_cast<std::uint32_t>(
          d.min +
          static_cast<std::uint64_t>(rng.next_unit() * static_cast<double>(d.max - d.min + 1)));
    case size_distribution::kind::pareto: {
      // Bounded Pareto by inverting its CDF: many small values and a heavy tail of large ones.
      const double lo = static_cast<double>(d.min), hi = static_cast<double>(d.max);
      const double a = d.pareto_shape;
      const double u = rng.next_unit();
      const double x = lo / std::pow(1.0 - u * (1.0 - std::pow(lo / hi, a)), 1.0 / a);
      return static_cast<std::uint32_t>(std::clamp(x, lo, hi));
    }
  }
  return static_cast<std::uint32_t>(d.min);
}

// The word repeated through a value of key `id`.
std::uint64_t pattern_of(std::uint32_t id) noexcept {
  return mix64(0x76616c7565ULL ^ id);
}

}  // namespace

const char* op_name(op_kind k) noexcept {
  static constexpr const char* names[] = {"get", "put", "invalidate", "fill", "flush"};
  return names[static_cast<std::size_t>(k)];
}

workload::workload(const bench_config& c) {
  const unsigned threads = std::max(1u, c.threads);
  // A scan-mix run reads its cold keys once per pass; four times the hot set keeps a cold
  // key from coming back while it could still be cached.
  scan_mix_options scan;
  std::uint32_t key_total = c.keys;
  if (c.key_dist.shape == key_distribution::kind::scan_mix) {
    scan.hot_keys = c.keys;
    scan.alpha = c.key_dist.alpha;
    scan.scan_fraction = c.key_dist.scan_fraction;
    scan.cold_keys = c.keys * 4;
    key_total = bench::key_count(scan);
  }

  key_bytes_.resize(std::size_t{key_total} * key_size);
  value_sizes_.resize(key_total);
  splitmix64 size_rng(c.seed ^ 0x73697a6573ULL);
  for (std::uint32_t id = 0; id < key_total; ++id) {
    const std::string k = key_for(id ^ static_cast<std::uint32_t>(c.seed));
    std::memcpy(key_bytes_.data() + std::size_t{id} * key_size, k.data(), key_size);
    value_sizes_[id] = draw_size(c.value_size, size_rng);
    total_value_bytes_ += value_sizes_[id];
  }
  mean_value_size_ = static_cast<double>(total_value_bytes_) / key_total;
  // Scans are sized against the memory tier: ten times what it holds, as in the hit-ratio
  // benchmarks, so an LRU that admits a scan loses its whole hot set.
  scan.capacity = std::max<std::size_t>(
      1, static_cast<std::size_t>(static_cast<double>(c.capacity) / (mean_value_size_ + 104)));

  std::size_t length = max_trace_length;
  if (c.ops != 0) length = std::min<std::size_t>(length, c.ops / threads + 1);
  traces_.resize(threads);
  // One generator thread per trace: Zipf sampling is a binary search per step, and a
  // default run's traces take about a second on one core.
  const auto generate = [&](unsigned t) {
    const std::uint64_t seed = c.seed + 0x9e3779b97f4a7c15ULL * (t + 1);
    thread_trace& tr = traces_[t];
    switch (c.key_dist.shape) {
      case key_distribution::kind::zipf:
        tr.keys = zipf_trace(c.keys, c.key_dist.alpha, length, seed);
        break;
      case key_distribution::kind::uniform:
        tr.keys = uniform_trace(c.keys, length, seed);
        break;
      case key_distribution::kind::scan_mix:
        tr.keys = scan_mix_trace(scan, length, seed);
        break;
    }
    // Each step's operation is drawn on its own, from a stream apart from the keys'.
    tr.ops.resize(tr.keys.size());
    splitmix64 op_rng(seed ^ 0x6f7073ULL);
    for (auto& op : tr.ops) {
      const std::uint32_t roll = op_rng.next_below(100);
      op = roll < c.mix.get               ? op_kind::get
           : roll < c.mix.get + c.mix.put ? op_kind::put
                                          : op_kind::invalidate;
    }
  };
  // At most one generator per core: each holds a Zipf table of 8 bytes per key.
  std::atomic<unsigned> next{0};
  std::vector<std::thread> generators;
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned g = 0; g < std::min(threads, cores); ++g)
    generators.emplace_back([&] {
      for (unsigned t; (t = next.fetch_add(1)) < threads;)
        generate(t);
    });
  for (auto& g : generators)
    g.join();
}

blob workload::make_value(std::uint32_t id) const {
  const std::size_t size = value_sizes_[id];
  blob_buffer buffer(size);
  std::byte* out = buffer.data();
  const std::uint64_t word = pattern_of(id);
  std::size_t at = 0;
  // Word stores: a fill of a 16 KiB value costs about a microsecond, not a byte loop.
  for (; at + 8 <= size; at += 8)
    std::memcpy(out + at, &word, 8);
  if (at < size) std::memcpy(out + at, &word, size - at);
  const std::uint64_t tag = id;
  std::memcpy(out, &tag, std::min<std::size_t>(size, 8));
  return std::move(buffer).freeze();
}

bool workload::value_matches(std::uint32_t id, const blob& value) const noexcept {
  const std::size_t size = value_sizes_[id];
  if (value.size() != size) return false;
  const std::byte* p = value.data();
  std::uint64_t head = 0;
  std::memcpy(&head, p, std::min<std::size_t>(size, 8));
  const std::uint64_t want_head = size >= 8 ? id : (std::uint64_t{id} & ((1ull << (8 * size)) - 1));
  if (head != want_head) return false;
  // The head and the last full word catch a value of another key or a torn tail; the
  // footer check of the disk tier covers the bytes between.
  if (size >= 16) {
    std::uint64_t tail = 0;
    const std::size_t last = (size / 8 - 1) * 8;
    std::memcpy(&tail, p + last, 8);
    if (tail != pattern_of(id)) return false;
  }
  return true;
}

}  // namespace larder::bench
