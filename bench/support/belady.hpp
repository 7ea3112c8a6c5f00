// Offline hit-ratio references for a key trace: Belady's optimal policy (the ceiling no
// online policy reaches) and exact LRU (the policy most caches are compared with).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <utility>
#include <vector>

namespace larder::bench {

struct hit_stats {
  std::uint64_t hits = 0;
  std::uint64_t requests = 0;

  double ratio() const noexcept {
    return requests == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(requests);
  }
};

/// Belady's MIN for a cache of `capacity` entries, O(n log n). On a miss the new key
/// competes with the cached ones and the key whose next use is farthest goes, which may be
/// the new key itself (bypass). Allowing bypass makes this the true ceiling for policies
/// with admission control (TinyLFU, S3-FIFO's ghost queue), not just for demand paging.
inline hit_stats belady_hits(std::span<const std::uint32_t> trace, std::size_t capacity) {
  hit_stats stats{0, trace.size()};
  if (trace.empty() || capacity == 0) return stats;
  const std::size_t n = trace.size();
  const std::size_t ids = std::size_t{*std::max_element(trace.begin(), trace.end())} + 1;
  constexpr std::uint64_t absent = std::numeric_limits<std::uint64_t>::max();

  // next_use[i]: where trace[i] is requested again. A key never requested again gets
  // n + i: beyond every real position, and unique, so a next-use value names exactly one
  // request and a stale heap entry can never pass for a live one.
  std::vector<std::uint64_t> next_use(n);
  {
    std::vector<std::uint64_t> later(ids, absent);
    for (std::size_t i = n; i-- > 0;) {
      const std::uint32_t id = trace[i];
      next_use[i] = later[id] == absent ? n + i : later[id];
      later[id] = i;
    }
  }

  // A max-heap on next use with lazy deletion: a hit pushes the key's new next use and
  // leaves the old entry behind; eviction pops until it finds an entry that is current.
  std::vector<std::uint64_t> cached_next(ids, absent);  // absent = not cached
  std::vector<std::pair<std::uint64_t, std::uint32_t>> heap;
  heap.reserve(n);
  std::size_t size = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t id = trace[i];
    if (cached_next[id] != absent) {
      ++stats.hits;
    } else {
      ++size;
    }
    cached_next[id] = next_use[i];
    heap.emplace_back(next_use[i], id);
    std::push_heap(heap.begin(), heap.end());
    while (size > capacity) {
      std::pop_heap(heap.begin(), heap.end());
      const auto [when, victim] = heap.back();
      heap.pop_back();
      if (cached_next[victim] == when) {
        cached_next[victim] = absent;
        --size;
      }
    }
  }
  return stats;
}

/// Exact single-threaded LRU over a trace, to cross-check the LRU baselines and to set
/// Belady's figure against. An intrusive list over key ids keeps it O(1) per request.
inline hit_stats lru_hits(std::span<const std::uint32_t> trace, std::size_t capacity) {
  hit_stats stats{0, trace.size()};
  if (trace.empty() || capacity == 0) return stats;
  const std::uint32_t ids = *std::max_element(trace.begin(), trace.end()) + 1;
  const std::uint32_t head = ids;  // sentinel: head.next = most recent, head.prev = least
  std::vector<std::uint32_t> prev(ids + 1, head), next(ids + 1, head);
  std::vector<bool> cached(ids, false);
  std::size_t size = 0;

  const auto unlink = [&](std::uint32_t id) {
    next[prev[id]] = next[id];
    prev[next[id]] = prev[id];
  };
  const auto push_front = [&](std::uint32_t id) {
    prev[id] = head;
    next[id] = next[head];
    prev[next[head]] = id;
    next[head] = id;
  };

  for (const std::uint32_t id : trace) {
    if (cached[id]) {
      ++stats.hits;
      unlink(id);
    } else {
      cached[id] = true;
      if (++size > capacity) {
        const std::uint32_t victim = prev[head];
        unlink(victim);
        cached[victim] = false;
        --size;
      }
    }
    push_front(id);
  }
  return stats;
}

}  // namespace larder::bench
