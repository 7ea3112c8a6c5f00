#include "larder/layered_store.hpp"

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <atomic>
#include <mutex>
#include <optional>

#include "core/fill_guard.hpp"
#include "core/single_flight.hpp"

namespace larder {
namespace {

bool is_refusal(std::error_code ec) {
  return ec == errc::value_too_large || ec == errc::store_disabled;
}

}  // namespace

// A write to the stack's tiers races with fills (promotions, load installs) of the same
// key: a fill that read a value before the write must not land after it. fill_guard
// (core/fill_guard.hpp) makes that so: writers open a scope over their key or prefix and
// act once the fills already writing it have landed; fills that have not started writing
// stand down. Writers also detach the key's flights, so a get_or_load that starts after a
// write or removal began never joins a load that began before it.
struct layered_store::impl : std::enable_shared_from_this<impl> {
  impl(std::vector<any_store> t, layered_options o)
      : tiers(std::move(t)),
        options(o),
        tier_faults(tiers.size()),
        tier_refusals(tiers.size()),
        last_refusals(tiers.size()),
        last_faults(tiers.size()) {
    if (tiers.empty()) throw std::invalid_argument("layered_store needs at least one tier");
  }

  std::vector<any_store> tiers;
  layered_options options;
  metric_counters counters;
  std::vector<std::atomic<std::uint64_t>> tier_faults;
  std::vector<std::atomic<std::uint64_t>> tier_refusals;
  struct refusal {
    std::error_code ec;
    std::string text;
  };
  std::vector<refusal> last_refusals;  // guarded by report_mutex
  std::vector<refusal> last_faults;    // a failed put's account, guarded by report_mutex

  mutable std::mutex report_mutex;
  promotion_report report;

  std::mutex flight_mutex;
  detail::flight_table flights;
  detail::fill_guard fills;

  // The tiers the write policy writes: all, or only the fastest.
  std::size_t written_tiers() const {
    return options.writes == write_policy::write_through ? tiers.size() : 1;
  }

  void fault(std::size_t tier) {
    tier_faults[tier].fetch_add(1, std::memory_order_relaxed);
    counters.add(counter::errors);
  }

  // A refusal is not a failure of the stack's put, but it must not be silent: counted
  // per tier, and the latest kept with what was refused.
  void refused(std::size_t tier, std::error_code ec, key_view key, const blob& value) {
    tier_refusals[tier].fetch_add(1, std::memory_order_relaxed);
    std::string text = tiers[tier].name() + " refused a value of " + std::to_string(value.size()) +
                       " bytes (key of " + std::to_string(key.size()) + " bytes): " + ec.message();
    std::lock_guard lock(report_mutex);
    last_refusals[tier] = {ec, std::move(text)};
  }

  void count_withdrawn(std::size_t n) {
    if (n == 0) return;
    std::lock_guard lock(report_mutex);
    report.withdrawn += n;
  }

  // A put that faulted: which tiers took the value before it was erased again, kept on
  // every tier that faulted so the report says what the bare error code cannot.
  void put_faulted(const std::vector<std::size_t>& took,
                   const std::vector<std::pair<std::size_t, std::error_code>>& failed, key_view key,
                   const blob& value, bool rollback_clean) {
    std::string taken;
    for (const auto i : took)
      taken += (taken.empty() ? "" : ", ") + tiers[i].name();
    std::lock_guard lock(report_mutex);
    for (const auto& [i, ec] : failed) {
      std::string text = tiers[i].name() + " faulted on a put of " + std::to_string(value.size()) +
                         " bytes (key of " + std::to_string(key.size()) + " bytes); ";
      text += taken.empty() ? std::string("no tier took the value")
                            : "taken by " + taken +
                                  (rollback_clean ? " and erased again: no tier holds the key"
                                                  : ", whose erase faulted: it may still serve it");
      last_faults[i] = {ec, std::move(text)};
    }
  }

  // Put into tiers [0, count): the first fault wins; refusals count only if all refused.
  // `took` and `failed` (when given) receive the tiers that stored the value and faulted.
  asio::awaitable<std::error_code> write_tiers(
      key_view key, const blob& value, std::size_t count, std::vector<std::size_t>* took = nullptr,
      std::vector<std::pair<std::size_t, std::error_code>>* failed = nullptr) {
    std::error_code first_fault, first_refusal;
    std::size_t stored = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const auto ec = co_await tiers[i].put(key, value);
      if (!ec) {
        ++stored;
        if (took) took->push_back(i);
      } else if (is_refusal(ec)) {
        if (!first_refusal) first_refusal = ec;
        refused(i, ec, key, value);
      } else {
        fault(i);
        if (failed) failed->emplace_back(i, ec);
        if (!first_fault) first_fault = ec;
      }
    }
    if (first_fault) co_return first_fault;
    co_return stored == 0 ? first_refusal : std::error_code{};
  }

  // Erases from tiers [0, count), counting faults; returns the tiers whose erase faulted.
  asio::awaitable<std::vector<std::size_t>> erase_tiers(key_view key, std::size_t count) {
    std::vector<std::size_t> faulted;
    for (std::size_t i = 0; i < count; ++i) {
      auto r = co_await tiers[i].erase(key);
      if (!r) {
        fault(i);
        faulted.push_back(i);
      }
    }
    co_return faulted;
  }

  // Every writer's first step: detach the flights it covers, open its scope and wait
  // until the fills already writing under it have landed.
  asio::awaitable<detail::writer_scope> begin_write(key_view key_or_prefix, bool exact) {
    {
      std::lock_guard lock(flight_mutex);
      flights.detach(key_or_prefix, exact);
    }
    auto scope = co_await detail::enter(fills, key_or_prefix, exact);
    // Fills waited out here land first and are overwritten or removed next.
    count_withdrawn(scope.waited_out());
    co_return std::move(scope);
  }

  // Write a value read (or loaded) earlier into tiers [0, count), unless a writer of the
  // key overlapped since `ticket` began. True when it was written.
  asio::awaitable<bool> fill(detail::fill_ticket& ticket, key_view key, const blob& value,
                             std::size_t count) {
    if (!ticket.try_commit()) {
      count_withdrawn(1);
      co_return false;
    }
    (void)co_await write_tiers(key, value, count);
    ticket.end();
    co_return true;
  }

  asio::awaitable<lookup> read_through(key_view key) {
    // Begun before the first lower-tier read: that read's value is what a promotion
    // writes. A hit in the fastest tier never needs it.
    std::optional<detail::fill_ticket> ticket;
    std::error_code first_fault;
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      if (i == 1 && options.promote) ticket.emplace(fills, key);
      auto r = co_await tiers[i].get(key);
      if (r.is_hit()) {
        counters.add(counter::hits);
        if (i > 0 && options.promote) {
          if (co_await fill(*ticket, key, r.value(), i)) {
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
};

layered_store::layered_store(std::vector<any_store> tiers, layered_options options)
    : impl_(std::make_shared<impl>(std::move(tiers), options)) {}

layered_store::~layered_store() = default;

asio::awaitable<lookup> layered_store::get(key_view key) {
  return impl_->read_through(key);
}

asio::awaitable<std::error_code> layered_store::put(key_view key, blob value) {
  auto& self = *impl_;
  auto scope = co_await self.begin_write(key, true);
  const auto count = self.written_tiers();
  std::vector<std::size_t> took;
  std::vector<std::pair<std::size_t, std::error_code>> failed;
  auto outcome = co_await self.write_tiers(key, value, count, &took, &failed);
  if (outcome && !is_refusal(outcome)) {
    // A tier faulted: the put failed, so no tier may serve the new value (a faster tier
    // that took it would serve it until evicted, and a reopen would read the old one).
    // Roll back to absent, still inside the scope so no fill slips in between.
    // Only the erases of the tiers that took the value decide whether any still holds it.
    const auto erase_faults = co_await self.erase_tiers(key, count);
    const bool clean = std::none_of(erase_faults.begin(), erase_faults.end(), [&](std::size_t i) {
      return std::find(took.begin(), took.end(), i) != took.end();
    });
    self.put_faulted(took, failed, key, value, clean);
  }
  self.counters.add(outcome ? counter::rejected_puts : counter::puts);
  co_return outcome;
}

asio::awaitable<result<bool>> layered_store::erase(key_view key) {
  auto& self = *impl_;
  auto scope = co_await self.begin_write(key, true);
  bool any = false;
  std::error_code first_fault;
  for (std::size_t i = 0; i < self.tiers.size(); ++i) {
    auto r = co_await self.tiers[i].erase(key);
    if (!r) {
      self.fault(i);
      if (!first_fault) first_fault = r.error();
    } else {
      any = any || *r;
    }
  }
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

asio::awaitable<result<std::uint64_t>> layered_store::invalidate_prefix_in(key_view prefix,
                                                                           std::size_t tier_count) {
  auto& self = *impl_;
  tier_count = std::min(tier_count, self.tiers.size());
  auto scope = co_await self.begin_write(prefix, false);
  std::uint64_t most = 0;
  std::error_code first_fault;
  for (std::size_t i = 0; i < tier_count; ++i) {
    auto r = co_await self.tiers[i].invalidate_prefix(prefix);
    if (!r) {
      self.fault(i);
      if (!first_fault) first_fault = r.error();
    } else {
      most = std::max(most, *r);
    }
  }
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
  for (std::size_t i = 0; i < impl_->tiers.size(); ++i) {
    tier_report r{impl_->tiers[i].name(), impl_->tiers[i].metrics(),
                  impl_->tier_faults[i].load(std::memory_order_relaxed),
                  impl_->tier_refusals[i].load(std::memory_order_relaxed)};
    {
      std::lock_guard lock(impl_->report_mutex);
      r.last_refusal = impl_->last_refusals[i].ec;
      r.last_refusal_text = impl_->last_refusals[i].text;
      r.last_put_fault = impl_->last_faults[i].ec;
      r.last_put_fault_text = impl_->last_faults[i].text;
    }
    out.push_back(std::move(r));
  }
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
  detail::flight_table::joined joined;
  {
    std::lock_guard lock(impl_->flight_mutex);
    joined = impl_->flights.join(key, std::move(waiter));
  }
  if (!joined.leader) {
    // Joined a load another caller leads: counted, so that N callers of one key do not
    // look like one lookup in the stack's metrics.
    impl_->counters.add(counter::coalesced);
    return;
  }
  asio::co_spawn(
      executor,
      [self = impl_, f = std::move(joined.f), key = std::string(key),
       load = std::move(load)]() -> asio::awaitable<void> {
        // However this coroutine ends (a tier's put may throw), the flight leaves the
        // table and every waiter completes.
        detail::flight_lead lead(f, [self, key](const detail::flight* done) {
          std::lock_guard lock(self->flight_mutex);
          self->flights.leave(key, done);
        });
        // The install is a fill of what the read-through and the loader saw from here on.
        detail::fill_ticket install(self->fills, key);
        result<blob> outcome = errc::loader_failed;
        auto found = co_await self->read_through(key);
        if (found.is_hit()) {
          outcome = std::move(found).value();
        } else {
          outcome = co_await detail::run_loader(load);
          lead.set_outcome(outcome);
          if (!outcome) {
            self->counters.add(counter::errors);
          } else if (co_await self->fill(install, key, *outcome, self->written_tiers())) {
            self->counters.add(counter::puts);
          }
        }
        lead.finish(outcome);
      },
      [self = impl_](std::exception_ptr e) {
        // A throw after the load ended the leader (flight_lead completed the waiters
        // with the loaded value): counted, not swallowed.
        if (e) self->counters.add(counter::errors);
      });
}

}  // namespace larder
