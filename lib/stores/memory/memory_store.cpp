#include "larder/memory_store.hpp"

#include "stores/memory/store_impl.hpp"

namespace larder {

memory_store::memory_store(memory_store_options options)
    : impl_(std::make_shared<impl>(std::move(options))) {}

memory_store::~memory_store() = default;

asio::awaitable<lookup> memory_store::get(key_view key) {
  auto found = impl_->find(key);
  co_return found ? lookup::hit(std::move(*found)) : lookup::miss();
}

std::optional<blob> memory_store::try_get(key_view key) {
  return impl_->find(key);
}

asio::awaitable<std::error_code> memory_store::put(key_view key, blob value) {
  co_return impl_->store(key, value, impl_->options.default_ttl);
}

asio::awaitable<std::error_code> memory_store::put(key_view key, blob value, put_options options) {
  co_return impl_->store(key, value, options.ttl.value_or(impl_->options.default_ttl));
}

asio::awaitable<std::vector<lookup>> memory_store::get_many(std::span<const key_view> keys) {
  std::vector<lookup> out;
  out.reserve(keys.size());
  for (const auto key : keys) {
    auto found = impl_->find(key);
    out.push_back(found ? lookup::hit(std::move(*found)) : lookup::miss());
  }
  co_return out;
}

asio::awaitable<std::vector<std::error_code>> memory_store::put_many(
    std::span<const std::pair<key_view, blob>> items) {
  std::vector<std::error_code> out;
  out.reserve(items.size());
  for (const auto& [key, value] : items)
    out.push_back(impl_->store(key, value, impl_->options.default_ttl));
  co_return out;
}

std::error_code memory_store::put_now(key_view key, blob value, std::chrono::milliseconds ttl) {
  return impl_->store(key, value, ttl);
}

asio::awaitable<result<bool>> memory_store::erase(key_view key) {
  co_return impl_->remove(key);
}

asio::awaitable<std::error_code> memory_store::flush() {
  impl_->counters().add(counter::flushes);
  co_return std::error_code{};
}

asio::awaitable<result<std::uint64_t>> memory_store::invalidate_prefix(key_view prefix) {
  co_return impl_->remove_prefix(prefix);
}

std::uint64_t memory_store::invalidate_prefix_now(key_view prefix) {
  return impl_->remove_prefix(prefix);
}

metrics_snapshot memory_store::metrics() const noexcept {
  metrics_snapshot out;
  for (const auto& stripe : impl_->stripes)
    stripe.accumulate_into(out);
  for (const auto& s : impl_->shards) {
    std::shared_lock lock(s->mutex);
    out.entries += s->entries();
    out.bytes += s->bytes();
    out.evictions += s->evictions();
    out.evicted_bytes += s->evicted_bytes();
  }
  return out;
}

std::vector<eviction_report> memory_store::eviction_reports() const {
  std::vector<eviction_report> out;
  for (const auto& s : impl_->shards) {
    std::shared_lock lock(s->mutex);
    if (const auto* r = s->last_report()) out.push_back(*r);
  }
  return out;
}

void memory_store::set_eviction_listener(eviction_listener listener) {
  impl_->listener = std::move(listener);
}

void memory_store::set_removal_listener(removal_listener listener) {
  impl_->removals = std::move(listener);
}

std::uint64_t memory_store::reclaim_expired() {
  return impl_->reclaim();
}

unsigned memory_store::shard_count() const noexcept {
  return static_cast<unsigned>(impl_->shards.size());
}

eviction_policy memory_store::policy() const noexcept {
  return impl_->options.policy;
}

asio::awaitable<result<blob>> memory_store::get_or_load_erased(key_view key, load_function load) {
  if (auto hit = try_get(key)) co_return std::move(*hit);
  // Named, not a temporary in the co_await (see docs/ARCHITECTURE.md, GCC 12 rules).
  auto join = [this](key_view k, const asio::any_io_executor& ex,
                     std::unique_ptr<detail::flight_waiter> waiter,
                     load_function l) { join_flight(k, ex, std::move(waiter), std::move(l)); };
  co_return co_await detail::await_flight(key, std::move(load), join);
}

void memory_store::join_flight(key_view key, const asio::any_io_executor& executor,
                               std::unique_ptr<detail::flight_waiter> waiter, load_function load) {
  auto& self = *impl_;
  const prehashed k{key, detail::mem::hash_key(key)};
  shard& s = self.shard_for(k.hash);
  detail::flight_table::joined joined;
  {
    std::unique_lock lock(s.mutex);
    // A load may have landed between the caller's try_get and this lock.
    if (entry* e = s.find(k); e && !self.expired(e)) {
      self.touch(s, e);
      auto value = e->value();
      lock.unlock();
      waiter->complete(std::move(value));
      return;
    }
    joined = s.flights.join(key, std::move(waiter));
  }
  if (!joined.leader) {
    self.counters().add(counter::coalesced);
    return;
  }
  asio::co_spawn(
      executor,
      [owner = impl_, f = std::move(joined.f), key = std::string(key),
       load = std::move(load)]() -> asio::awaitable<void> {
        // However this coroutine ends, the flight leaves the table and its waiters
        // complete: an install that throws (an eviction listener) cannot strand them.
        detail::flight_lead lead(f, [owner, key](const detail::flight* done) {
          owner->end_flight(prehashed{key, detail::mem::hash_key(key)}, done);
        });
        auto outcome = co_await detail::run_loader(load);
        lead.set_outcome(outcome);
        if (outcome) {
          // The store's own put path: budgets, eviction and the listener apply as usual;
          // a refusal (too large, disabled) is counted there and the waiters still get
          // the value they waited for.
          (void)owner->store(key, *outcome, owner->options.default_ttl, f.get());
        } else {
          owner->counters().add(counter::errors);
        }
        lead.finish(outcome);
      },
      [owner = impl_](std::exception_ptr e) {
        // A throw after the load ended the leader; flight_lead has completed the waiters
        // with the loaded value. Counted, not swallowed.
        if (e) owner->counters().add(counter::errors);
      });
}

const char* to_string(eviction_reason reason) noexcept {
  switch (reason) {
    case eviction_reason::entry_limit:
      return "entry limit";
    case eviction_reason::byte_limit:
      return "byte limit";
    case eviction_reason::entry_and_byte_limit:
      return "entry and byte limit";
    case eviction_reason::rejected_put:
      return "rejected put";
    case eviction_reason::expired:
      return "expired";
  }
  return "unknown";
}

const char* to_string(removal_cause cause) noexcept {
  switch (cause) {
    case removal_cause::size:
      return "size";
    case removal_cause::expired:
      return "expired";
    case removal_cause::explicit_removal:
      return "explicit removal";
    case removal_cause::replaced:
      return "replaced";
    case removal_cause::invalidated_prefix:
      return "invalidated by prefix";
    case removal_cause::rejected_put:
      return "rejected put";
  }
  return "unknown";
}

}  // namespace larder
