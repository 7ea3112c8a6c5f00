#include "stores/memory/shard.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace larder::detail::mem {
namespace {

// S3-FIFO constants (Yang et al., SOSP'23): frequency saturates at 3, and an entry hit
// twice while in the small queue is promoted (the paper's freq > 1; it measured better
// than promoting after one hit here).
constexpr std::uint8_t max_freq = 3;
constexpr std::uint8_t promote_threshold = 2;

bool later(const auto& a, const auto& b) {
  return a.deadline_ms > b.deadline_ms;
}

}  // namespace

unsigned thread_index() noexcept {
  static std::atomic<unsigned> next{0};
  thread_local const unsigned mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

void entry_queue::push_back(entry* e, std::uint64_t weight) noexcept {
  e->next = nullptr;
  e->prev = tail_;
  if (tail_) {
    tail_->next = e;
  } else {
    head_ = e;
  }
  tail_ = e;
  ++count_;
  bytes_ += weight;
}

void entry_queue::unlink(entry* e, std::uint64_t weight) noexcept {
  (e->prev ? e->prev->next : head_) = e->next;
  (e->next ? e->next->prev : tail_) = e->prev;
  e->prev = e->next = nullptr;
  --count_;
  bytes_ -= weight;
}

shard::shard(unsigned index, const shard_config& config)
    : index_no_(index),
      config_(config),
      small_target_entries_(
          std::max<std::uint64_t>(1, config.max_entries * config.small_percent / 100)),
      small_target_bytes_(
          std::max<std::uint64_t>(1, config.max_bytes / 100 * config.small_percent)),
      limit_(config.max_bytes),
      index_(config.max_entries) {
  report_.shard = index;
  ordered_ = config.eager_prefix_index;
  if (config.policy == eviction_policy::s3_fifo && config.max_entries > 0) {
    // The paper's ghost remembers as many keys as main holds. A quarter of that measured
    // better on every Zipf and scan-mix trace of larder-memory-bench (fewer one-time keys
    // skip probation) and costs a quarter of the memory: ~1 byte per entry.
    const auto slots = std::bit_ceil(std::max<std::uint64_t>(64, config.max_entries)) / 4;
    ghost_.assign(std::min<std::uint64_t>(slots, 1u << 24), 0);
    const std::uint64_t window = std::min<std::uint64_t>(config.max_entries, ghost_.size());
    // 16 clock bits, so that a window up to 2^15 ticks compares without wrapping.
    ghost_clock_divisor_ = static_cast<std::uint32_t>(std::max<std::uint64_t>(1, window >> 15));
    ghost_window_ = static_cast<std::uint32_t>(window / ghost_clock_divisor_);
  }
}

shard::~shard() {
  for (const auto& slot : deadlines_)
    release(slot.e);
  index_.for_each([](entry* e) { release(e); });
}

entry* shard::find(const prehashed& k) const noexcept {
  return index_.find(k);
}

void shard::touch(entry* e) noexcept {
  if (config_.policy == eviction_policy::s3_fifo) {
    e->bump_freq(max_freq);
  } else {
    const auto w = weight_of(e);
    main_.unlink(e, w);
    main_.push_back(e, w);
  }
}

void shard::link(entry* e, std::size_t hash, std::uint64_t weight, bool to_main) {
  e->set_flag(flag_live);
  index_.insert(e, hash);
  if (ordered_) order_.insert(e);
  bytes_ += weight;
  if (config_.policy == eviction_policy::lru || to_main) {
    e->set_flag(flag_main);
    main_.push_back(e, weight);
  } else {
    small_.push_back(e, weight);
  }
  if (e->expires()) track_deadline(e);
}

void shard::unlink(entry* e, std::uint64_t weight, std::size_t hash) noexcept {
  index_.erase(e, hash);
  if (ordered_) order_.erase(e);
  bytes_ -= weight;
  (e->has(flag_main) ? main_ : small_).unlink(e, weight);
  e->clear_flag(flag_live);
  if (e->expires()) --live_ttl_entries_;
  // Removed TTL entries stay in the heap until their deadline; compact when they
  // outnumber the live ones so that overwrite-heavy use cannot grow it without bound.
  if (deadlines_.size() > 64 && deadlines_.size() > 2 * live_ttl_entries_) {
    std::erase_if(deadlines_, [](const deadline_slot& slot) {
      if (slot.e->has(flag_live)) return false;
      release(slot.e);  // the heap's own reference
      return true;
    });
    std::make_heap(deadlines_.begin(), deadlines_.end(), later<deadline_slot, deadline_slot>);
  }
}

void shard::record_eviction(entry* e, std::uint64_t weight, eviction_reason reason,
                            std::uint32_t now_s, departures& out) {
  ++evictions_;
  evicted_bytes_ += weight;
  const std::chrono::seconds age{now_s >= e->inserted_s ? now_s - e->inserted_s : 0};
  // A report describes one batch (one put, one sweep) of one reason.
  if (new_batch_ || report_.reason != reason) {
    report_ = eviction_report{index_no_, reason, 0, 0, std::chrono::seconds{0}};
    has_report_ = true;
    new_batch_ = false;
  }
  ++report_.entries;
  report_.bytes += weight;
  report_.oldest_age = std::max(report_.oldest_age, age);
  out.push_back({e, weight, true, reason,
                 reason == eviction_reason::expired        ? removal_cause::expired
                 : reason == eviction_reason::rejected_put ? removal_cause::rejected_put
                                                           : removal_cause::size});
}

void shard::evict_one(eviction_reason reason, std::uint32_t now_s, departures& out) {
  if (config_.policy == eviction_policy::lru) {
    entry* victim = main_.front();
    const auto w = weight_of(victim);
    unlink(victim, w);
    record_eviction(victim, w, reason, now_s, out);
    return;
  }
  // S3-FIFO. Each pass either evicts or moves an entry and lowers a frequency, so the
  // loop ends after at most max_freq + 1 passes over the queues: O(1) amortised.
  for (;;) {
    const bool small_over =
        small_.size() >= small_target_entries_ || small_.bytes() >= small_target_bytes_;
    if (small_.size() > 0 && (small_over || main_.size() == 0)) {
      entry* t = small_.front();
      const auto w = weight_of(t);
      if (t->freq() >= promote_threshold) {
        small_.unlink(t, w);
        t->set_flag(flag_main);
        main_.push_back(t, w);
        continue;
      }
      const auto hash = hash_key(t->key());
      ghost_insert(hash);
      unlink(t, w, hash);
      record_eviction(t, w, reason, now_s, out);
      return;
    }
    entry* t = main_.front();
    const auto w = weight_of(t);
    if (t->freq() > 0) {
      t->set_freq(static_cast<std::uint8_t>(t->freq() - 1));
      main_.unlink(t, w);
      main_.push_back(t, w);
      continue;
    }
    unlink(t, w);
    record_eviction(t, w, reason, now_s, out);
    return;
  }
}

shard::insert_outcome shard::insert(entry* e, const prehashed& k, std::uint32_t now_s,
                                    departures& out) {
  const auto w = weight_of(e);
  // Even an empty shard cannot take it: the caller borrows credit and tries again.
  if (w > limit_) return insert_outcome::needs_credit;
  e->inserted_s = now_s;
  new_batch_ = true;
  bool to_main = false;
  if (entry* old = find(k)) {
    const auto old_w = weight_of(old);
    replace(old, e, k, old_w, w);
    out.push_back({old, old_w, false, eviction_reason::rejected_put, removal_cause::replaced});
    // The entry count is unchanged; only a heavier value can push the shard over.
    while (index_.size() > 1 && bytes_ > limit_)
      evict_one(eviction_reason::byte_limit, now_s, out);
    settle_credit();
    return insert_outcome::stored;
  }
  if (config_.policy == eviction_policy::s3_fifo && ghost_contains(k.hash)) to_main = true;
  const bool entries_full = index_.size() + 1 > config_.max_entries;
  const bool bytes_full = bytes_ + w > limit_;
  const auto reason = entries_full && bytes_full ? eviction_reason::entry_and_byte_limit
                      : entries_full             ? eviction_reason::entry_limit
                                                 : eviction_reason::byte_limit;
  while (index_.size() > 0 && (index_.size() + 1 > config_.max_entries || bytes_ + w > limit_)) {
    evict_one(reason, now_s, out);
  }
  link(e, k.hash, w, to_main);
  settle_credit();
  return insert_outcome::stored;
}

void shard::reject(const prehashed& k, std::uint32_t now_s, departures& out) {
  new_batch_ = true;
  if (entry* old = find(k)) {
    const auto old_w = weight_of(old);
    unlink(old, old_w, k.hash);
    record_eviction(old, old_w, eviction_reason::rejected_put, now_s, out);
    settle_credit();
  }
}

std::uint64_t shard::lend(std::uint64_t want, std::uint32_t now_s, departures& out) {
  const auto give = std::min(want, limit_);
  if (give == 0) return 0;
  new_batch_ = true;
  while (index_.size() > 0 && bytes_ > limit_ - give)
    evict_one(eviction_reason::byte_limit, now_s, out);
  limit_ -= give;
  return give;
}

void shard::settle_credit() noexcept {
  auto& pool = *config_.pool;
  if (limit_ > config_.max_bytes) {
    const auto unused = limit_ - std::max(bytes_, config_.max_bytes);
    if (unused > 0) {
      limit_ -= unused;
      pool.fetch_add(unused, std::memory_order_relaxed);
    }
  } else if (limit_ < config_.max_bytes) {
    auto have = pool.load(std::memory_order_relaxed);
    std::uint64_t take;
    do {
      take = std::min(have, config_.max_bytes - limit_);
      if (take == 0) return;
    } while (!pool.compare_exchange_weak(have, have - take, std::memory_order_relaxed));
    limit_ += take;
  }
}

void shard::replace(entry* old, entry* e, const prehashed& k, std::uint64_t old_w,
                    std::uint64_t w) {
  // Same key, same hash and same order: overwrite the index slots in place instead of an
  // erase and an insert (each a probe; the ordered one a walk of key comparisons). The
  // slot is not const memory; only its hash and order must not change, and they do not.
  index_.replace(old, e, k.hash);
  if (ordered_) const_cast<entry*&>(*order_.find(old)) = e;
  // A put is a use: the new value goes to the back of the queue its key had earned.
  auto& queue = old->has(flag_main) ? main_ : small_;
  queue.unlink(old, old_w);
  if (old->has(flag_main)) e->set_flag(flag_main);
  e->set_freq(old->freq());
  e->set_flag(flag_live);
  queue.push_back(e, w);
  bytes_ = bytes_ - old_w + w;
  old->clear_flag(flag_live);
  if (old->expires()) --live_ttl_entries_;
  if (e->expires()) track_deadline(e);
}

void shard::track_deadline(entry* e) {
  blob_acquire(e);
  deadlines_.push_back({e->effective_deadline_ms(), e});
  std::push_heap(deadlines_.begin(), deadlines_.end(), later<deadline_slot, deadline_slot>);
  ++live_ttl_entries_;
}

bool shard::erase(const prehashed& k, departures& out) {
  entry* e = find(k);
  if (e) {
    const auto w = weight_of(e);
    unlink(e, w, k.hash);
    out.push_back({e, w, false, eviction_reason::entry_limit, removal_cause::explicit_removal});
    settle_credit();
  }
  flights.detach(k.key, true);
  return e != nullptr;
}

std::uint64_t shard::erase_prefix(std::string_view prefix, departures& out) {
  std::uint64_t removed = 0;
  if (!ordered_) {
    // Built on first use: stores that never invalidate by prefix (fingerprint keys)
    // pay neither its memory nor its cost per put. From here on it is kept current.
    index_.for_each([this](entry* e) { order_.insert(e); });
    ordered_ = true;
  }
  // Look the range up again after each removal: btree iterators do not survive erasure.
  for (auto it = order_.lower_bound(prefix); it != order_.end() && (*it)->key().starts_with(prefix);
       it = order_.lower_bound(prefix)) {
    entry* e = *it;
    const auto w = weight_of(e);
    unlink(e, w);
    out.push_back({e, w, false, eviction_reason::entry_limit, removal_cause::invalidated_prefix});
    ++removed;
  }
  if (removed) settle_credit();
  flights.detach(prefix, false);
  return removed;
}

std::uint64_t shard::reclaim_expired(std::int64_t now_ms, std::uint32_t now_s, departures& out) {
  std::uint64_t expired = 0;
  new_batch_ = true;
  while (!deadlines_.empty() && deadlines_.front().deadline_ms <= now_ms) {
    std::pop_heap(deadlines_.begin(), deadlines_.end(), later<deadline_slot, deadline_slot>);
    entry* e = deadlines_.back().e;
    if (e->has(flag_live)) {
      // Time to idle moves an entry's deadline on every hit: a later one goes back in.
      const auto due = e->effective_deadline_ms();
      if (due > now_ms) {
        deadlines_.back().deadline_ms = due;
        std::push_heap(deadlines_.begin(), deadlines_.end(), later<deadline_slot, deadline_slot>);
        continue;
      }
      deadlines_.pop_back();
      const auto w = weight_of(e);
      unlink(e, w);
      record_eviction(e, w, eviction_reason::expired, now_s, out);
      ++expired;
    } else {
      deadlines_.pop_back();
    }
    release(e);  // the heap's reference
  }
  if (expired) settle_credit();
  return expired;
}

std::int64_t shard::next_deadline() const noexcept {
  return deadlines_.empty() ? std::numeric_limits<std::int64_t>::max()
                            : deadlines_.front().deadline_ms;
}

bool shard::ghost_contains(std::size_t hash) const noexcept {
  if (ghost_.empty()) return false;
  const auto slot = ghost_[(hash >> 20) & (ghost_.size() - 1)];
  const auto tag = static_cast<std::uint32_t>((hash & 0xffff) | 1);
  if ((slot >> 16) != tag) return false;
  const auto age = static_cast<std::uint16_t>(ghost_clock_ - (slot & 0xffff));
  return age < ghost_window_;
}

void shard::ghost_insert(std::size_t hash) noexcept {
  if (ghost_.empty()) return;
  if (++ghost_inserts_ % ghost_clock_divisor_ == 0) ++ghost_clock_;
  const auto tag = static_cast<std::uint32_t>((hash & 0xffff) | 1);
  ghost_[(hash >> 20) & (ghost_.size() - 1)] = tag << 16 | (ghost_clock_ & 0xffff);
}

}  // namespace larder::detail::mem
