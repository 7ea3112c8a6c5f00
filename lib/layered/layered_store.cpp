#include "larder/layered_store.hpp"

#include <absl/hash/hash.h>

#include <array>
#include <asio/co_spawn.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <mutex>

#include "core/flight.hpp"

namespace larder {
namespace {

bool is_refusal(std::error_code ec) {
  return ec == errc::value_too_large || ec == errc::store_disabled;
}

// A write to the stack's tiers races with fills (promotions, load installs) of the same
// key: a fill that read a value before the write must not land after it. Writers bump a
// generation before they act; a fill compares the generations it started with before and
// after it writes. Removals (erase, invalidate_prefix) bump the global generation, plain
// puts only their key's stripe, so puts of other keys do not withdraw fills.
constexpr std::size_t generation_stripes = 64;

struct generation_mark {
  std::uint64_t global;
  std::uint64_t stripe;
  bool operator==(const generation_mark&) const = default;
};

}  // namespace

struct layered_store::impl : std::enable_shared_from_this<impl> {
  impl(std::vector<any_store> t, layered_options o)
      : tiers(std::move(t)), options(o), tier_faults(tiers.size()) {
    if (tiers.empty()) throw std::invalid_argument("layered_store needs at least one tier");
  }

  std::vector<any_store> tiers;
  layered_options options;
  metric_counters counters;
  std::vector<std::atomic<std::uint64_t>> tier_faults;

  std::atomic<std::uint64_t> global_generation{0};
  std::array<std::atomic<std::uint64_t>, generation_stripes> stripe_generation{};
  std::atomic<std::uint64_t> fills_in_flight{0};

  mutable std::mutex report_mutex;
  promotion_report report;

  std::mutex flight_mutex;
  detail::flight_table flights;

  std::atomic<std::uint64_t>& stripe_of(key_view key) {
    return stripe_generation[absl::Hash<std::string_view>{}(key) % generation_stripes];
  }
  generation_mark mark(key_view key) {
    return {global_generation.load(std::memory_order_seq_cst),
            stripe_of(key).load(std::memory_order_seq_cst)};
  }

  // The tiers the write policy writes: all, or only the fastest.
  std::size_t written_tiers() const {
    return options.writes == write_policy::write_through ? tiers.size() : 1;
  }

  void fault(std::size_t tier) {
    tier_faults[tier].fetch_add(1, std::memory_order_relaxed);
    counters.add(counter::errors);
  }

  // Put into tiers [0, count): the first fault wins; refusals count only if all refused.
  asio::awaitable<std::error_code> write_tiers(key_view key, const blob& value, std::size_t count) {
    std::error_code first_fault, first_refusal;
    std::size_t stored = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const auto ec = co_await tiers[i].put(key, value);
      if (!ec) {
        ++stored;
      } else if (is_refusal(ec)) {
        if (!first_refusal) first_refusal = ec;
      } else {
        fault(i);
        if (!first_fault) first_fault = ec;
      }
    }
    if (first_fault) co_return first_fault;
    co_return stored == 0 ? first_refusal : std::error_code{};
  }

  asio::awaitable<void> erase_tiers(key_view key, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      auto r = co_await tiers[i].erase(key);
      if (!r) fault(i);
    }
  }

  // Wait until no fill is in flight: they are short (one write per faster tier).
  asio::awaitable<void> settle_fills() {
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    while (fills_in_flight.load(std::memory_order_seq_cst) > 0) {
      timer.expires_after(std::chrono::microseconds(100));
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  // Write a value read (or loaded) earlier into tiers [0, count), unless a writer
  // overlapped. Returns true when the value stands in those tiers.
  asio::awaitable<bool> fill(key_view key, const blob& value, std::size_t count,
                             generation_mark started) {
    fills_in_flight.fetch_add(1, std::memory_order_seq_cst);
    // Announce first, then look: a writer bumps first, then looks at fills_in_flight,
    // so one of the two always sees the other.
    bool stands = false;
    if (mark(key) == started) {
      (void)co_await write_tiers(key, value, count);
      stands = mark(key) == started;
      if (!stands) {
        co_await erase_tiers(key, count);
        std::lock_guard lock(report_mutex);
        ++report.withdrawn;
      }
    }
    fills_in_flight.fetch_sub(1, std::memory_order_seq_cst);
    co_return stands;
  }

  asio::awaitable<lookup> read_through(key_view key) {
    const auto started = mark(key);
    std::error_code first_fault;
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      auto r = co_await tiers[i].get(key);
      if (r.is_hit()) {
        counters.add(counter::hits);
        if (i > 0 && options.promote) {
          if (co_await fill(key, r.value(), i, started)) {
            std::lock_guard lock(report_mutex);
            ++report.events;
            report.promoted_writes += i;
            report.promoted_bytes += i * r.value().size();
            report.last_source_tier = static_cast<int>(i);
          }
        }
        co_return r;
      }
      if (r.is_fault()) {
        fault(i);
        if (!first_fault) first_fault = r.error();
      }
    }
    if (first_fault) {
      counters.add(counter::lookup_faults);
      co_return lookup::fault(first_fault);
    }
    counters.add(counter::misses);
    co_return lookup::miss();
  }

  // A writer: bump, then (if fills were in flight) act again once they settled, so that a
  // fill that slipped past its generation check is overwritten or removed.
  template <class Act>
  asio::awaitable<void> as_writer(std::atomic<std::uint64_t>& generation, Act act) {
    generation.fetch_add(1, std::memory_order_seq_cst);
    const bool racing = fills_in_flight.load(std::memory_order_seq_cst) > 0;
    co_await act();
    if (racing) {
      co_await settle_fills();
      co_await act();
    }
  }
};

layered_store::layered_store(std::vector<any_store> tiers, layered_options options)
    : impl_(std::make_shared<impl>(std::move(tiers), options)) {}

layered_store::~layered_store() = default;

asio::awaitable<lookup> layered_store::get(key_view key) {
  return impl_->read_through(key);
}

asio::awaitable<std::error_code> layered_store::put(key_view key, blob value) {
  auto& self = *impl_;
  std::error_code outcome;
  co_await self.as_writer(self.stripe_of(key), [&]() -> asio::awaitable<void> {
    outcome = co_await self.write_tiers(key, value, self.written_tiers());
  });
  self.counters.add(outcome ? counter::rejected_puts : counter::puts);
  co_return outcome;
}

asio::awaitable<result<bool>> layered_store::erase(key_view key) {
  auto& self = *impl_;
  {
    std::lock_guard lock(self.flight_mutex);
    self.flights.mark_stale(key, true);
  }
  bool any = false;
  std::error_code first_fault;
  co_await self.as_writer(self.global_generation, [&]() -> asio::awaitable<void> {
    for (std::size_t i = 0; i < self.tiers.size(); ++i) {
      auto r = co_await self.tiers[i].erase(key);
      if (!r) {
        self.fault(i);
        if (!first_fault) first_fault = r.error();
      } else {
        any = any || *r;
      }
    }
  });
  if (first_fault) co_return first_fault;
  co_return any;
}

asio::awaitable<std::error_code> layered_store::flush() {
  auto& self = *impl_;
  std::error_code first;
  for (std::size_t i = 0; i < self.tiers.size(); ++i) {
    const auto ec = co_await self.tiers[i].flush();
    if (ec) {
      self.fault(i);
      if (!first) first = ec;
    }
  }
  self.counters.add(first ? counter::flush_errors : counter::flushes);
  co_return first;
}

asio::awaitable<result<std::uint64_t>> layered_store::invalidate_prefix(key_view prefix) {
  return invalidate_prefix_in(prefix, impl_->tiers.size());
}

asio::awaitable<result<std::uint64_t>> layered_store::invalidate_prefix_in(
    key_view prefix, std::size_t tier_count) {
  auto& self = *impl_;
  tier_count = std::min(tier_count, self.tiers.size());
  {
    std::lock_guard lock(self.flight_mutex);
    self.flights.mark_stale(prefix, false);
  }
  std::uint64_t most = 0;
  std::error_code first_fault;
  co_await self.as_writer(self.global_generation, [&]() -> asio::awaitable<void> {
    for (std::size_t i = 0; i < tier_count; ++i) {
      auto r = co_await self.tiers[i].invalidate_prefix(prefix);
      if (!r) {
        self.fault(i);
        if (!first_fault) first_fault = r.error();
      } else {
        most = std::max(most, *r);
      }
    }
  });
  if (first_fault) co_return first_fault;
  co_return most;
}

metrics_snapshot layered_store::metrics() const {
  metrics_snapshot out;
  impl_->counters.accumulate_into(out);
  for (const auto& t : impl_->tiers) {
    const auto m = t.metrics();
    // Tiers hold copies of one key space: the fullest tier counts the distinct entries;
    // bytes are what all tiers hold between them.
    out.entries = std::max(out.entries, m.entries);
    out.bytes = saturating_add(out.bytes, m.bytes);
    out.evictions = saturating_add(out.evictions, m.evictions);
    out.evicted_bytes = saturating_add(out.evicted_bytes, m.evicted_bytes);
  }
  return out;
}

std::vector<tier_report> layered_store::tiers() const {
  std::vector<tier_report> out;
  for (std::size_t i = 0; i < impl_->tiers.size(); ++i)
    out.push_back({impl_->tiers[i].name(), impl_->tiers[i].metrics(),
                   impl_->tier_faults[i].load(std::memory_order_relaxed)});
  return out;
}

promotion_report layered_store::promotions() const {
  std::lock_guard lock(impl_->report_mutex);
  return impl_->report;
}

any_store& layered_store::tier(std::size_t index) {
  return impl_->tiers.at(index);
}

std::size_t layered_store::tier_count() const noexcept {
  return impl_->tiers.size();
}

asio::awaitable<lookup> layered_store::first_tier_hit(key_view key) {
  auto r = co_await impl_->tiers.front().get(key);
  if (r.is_hit()) {
    impl_->counters.add(counter::hits);
    co_return r;
  }
  // Misses and faults here are not counted: the flight's read-through counts the lookup.
  co_return lookup::miss();
}

asio::awaitable<result<blob>> layered_store::get_or_load_erased(key_view key, load_function load) {
  // Hits in the fastest tier skip the flight machinery entirely.
  if (auto hit = co_await first_tier_hit(key); hit.is_hit()) co_return std::move(hit).value();
  // Named, not a temporary in the co_await (see docs/ARCHITECTURE.md, GCC 12 rules).
  auto join = [this](key_view k, const asio::any_io_executor& ex,
                     std::unique_ptr<detail::flight_waiter> waiter,
                     load_function l) { join_flight(k, ex, std::move(waiter), std::move(l)); };
  co_return co_await detail::await_flight(key, std::move(load), join);
}

void layered_store::join_flight(key_view key, const asio::any_io_executor& executor,
                                std::unique_ptr<detail::flight_waiter> waiter, load_function load) {
  std::shared_ptr<detail::flight> f;
  bool leader = false;
  {
    std::lock_guard lock(impl_->flight_mutex);
    f = impl_->flights.find(key);
    if (!f) {
      f = impl_->flights.start(key);
      leader = true;
    }
    f->add_waiter(f, std::move(waiter));
  }
  if (!leader) return;
  asio::co_spawn(
      executor,
      [self = impl_, f, key = std::string(key), load = std::move(load)]() -> asio::awaitable<void> {
        result<blob> outcome = errc::loader_failed;
        const auto started = self->mark(key);
        auto found = co_await self->read_through(key);
        if (found.is_hit()) {
          outcome = std::move(found).value();
        } else {
          try {
            outcome = co_await load();
          } catch (...) {
            outcome = errc::loader_failed;
          }
          if (!outcome) {
            self->counters.add(counter::errors);
          } else {
            bool stale;
            {
              std::lock_guard lock(self->flight_mutex);
              stale = f->stale;
            }
            // The install is a fill: a removal that overlapped the load keeps it out.
            if (!stale && co_await self->fill(key, *outcome, self->written_tiers(), started))
              self->counters.add(counter::puts);
          }
        }
        {
          std::lock_guard lock(self->flight_mutex);
          self->flights.remove(key, f.get());
        }
        f->finish(outcome);
      },
      [](std::exception_ptr) {});
}

}  // namespace larder
