// live_core: keys, reads with single-flight fetches, guarded fills, invalidation and
// metrics. Writes, events and shutdown are in queue.cpp, optimistic rewrites in
// optimistic.cpp, own-write tags in echoes.cpp, watchers in watchers.cpp.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <random>

#include "live/core_impl.hpp"

namespace larder::detail {

live_core::impl::impl(asio::any_io_executor ex, any_store s, live_table_options o)
    : executor(std::move(ex)),
      store(std::move(s)),
      options(std::move(o)),
      prefix(options.cache_key + '/'),
      index(options.max_tracked_pages, options.page_size, options.id_order,
            options.updates_keep_position),
      queue(executor, options.queue_capacity),
      worker_done(executor, 1),
      consumer_done(executor, 1),
      consumer_strand(asio::make_strand(executor)) {
  // Tags of other tables (in this process or another) over the same master must not
  // collide with ours: a random high half, a counter below.
  std::random_device random;
  own_nonce = (static_cast<std::uint64_t>(random()) << 32) | 1u;
}

result<live_core> live_core::create(asio::any_io_executor executor, any_store store,
                                    live_table_options options) {
  // A '/' inside the cache key would put one table's group inside another's
  // ("a" would clear "a/b/page/1"), and page keys are only unambiguous without one.
  if (options.cache_key.empty() || options.cache_key.find('/') != std::string::npos)
    return errc::invalid_argument;
  if (options.page_size == 0 || options.queue_capacity == 0 || options.write_attempts == 0)
    return errc::invalid_argument;
  if (options.initial_backoff.count() < 0 || options.max_backoff < options.initial_backoff)
    return errc::invalid_argument;
  if (options.watch_capacity == 0 || options.max_tracked_writes == 0) return errc::invalid_argument;
  if (options.invalidation == invalidation_mode::rows && options.max_tracked_pages == 0)
    return errc::invalid_argument;
  // An optimistic rewrite is judged row by row and page by page: the group mode has no
  // such scopes, so it could not tell which changes overlapped a rewrite.
  if (options.optimistic_writes && options.invalidation != invalidation_mode::rows)
    return errc::invalid_argument;
  return live_core(
      std::make_shared<impl>(std::move(executor), std::move(store), std::move(options)));
}

const live_table_options& live_core::options() const noexcept {
  return impl_->options;
}
const asio::any_io_executor& live_core::executor() const noexcept {
  return impl_->executor;
}
const std::string& live_core::group_prefix() const noexcept {
  return impl_->prefix;
}
std::string live_core::page_key(std::uint64_t number) const {
  return impl_->page_key(number);
}
std::string live_core::row_key(std::string_view id) const {
  return impl_->row_key(id);
}
std::string live_core::impl::page_key(std::uint64_t number) const {
  return prefix + "page/" + std::to_string(number);
}
std::string live_core::cursor_key(std::string_view after) const {
  return impl_->cursor_key(after);
}
std::string live_core::impl::cursor_key(std::string_view after) const {
  std::string key = prefix + "after/";
  key.append(after);
  return key;
}
std::string live_core::impl::row_key(std::string_view id) const {
  std::string key = prefix + "id/";
  key.append(id);
  return key;
}

bool live_core::shutting_down() const noexcept {
  return impl_->stopping.load();
}

void live_core::count_hit(read_target target) noexcept {
  impl_->add(target == read_target::page ? live_stat::page_hits : live_stat::row_hits);
}
void live_core::count_miss(read_target target) noexcept {
  impl_->add(target == read_target::page ? live_stat::page_misses : live_stat::row_misses);
}
void live_core::count_decode_fault() noexcept {
  impl_->add(live_stat::decode_faults);
}
void live_core::count_stale_served() noexcept {
  impl_->add(live_stat::stale_served);
}

asio::awaitable<lookup> live_core::cached(std::string_view key) {
  auto self = impl_;
  if (self->dirty.load()) {
    // One reader at a time retries the failed invalidation; the others go to the source.
    if (!self->healing.exchange(true)) {
      std::optional<live_notification> quiet;
      (void)co_await self->invalidate(std::move(quiet));
      self->healing.store(false);
    }
    if (self->dirty.load()) {
      self->add(live_stat::bypassed_reads);
      co_return lookup::miss();
    }
  }
  auto found = co_await self->store.get(key);
  if (found.is_fault()) {
    self->add(live_stat::store_faults);
    co_return lookup::miss();
  }
  co_return found;
}

asio::awaitable<result<blob>> live_core::fetch_shared(std::string_view key, fetch_function fetch) {
  fetch_rows_function rows = [fetch = std::move(fetch)](std::vector<std::string>*) {
    return fetch();
  };
  co_return co_await fetch_shared(key, std::move(rows));
}

asio::awaitable<result<blob>> live_core::fetch_shared(std::string_view key,
                                                      fetch_rows_function fetch) {
  auto self = impl_;
  // Named, not a temporary in the co_await (the GCC 12 rules in docs/ARCHITECTURE.md).
  // `self` keeps the state alive for the whole await; the lambda holds a plain pointer.
  // The ids the fetch read reach the leader through `ids` (a follower's copy is unused).
  auto ids = std::make_shared<std::vector<std::string>>();
  load_function load = [fetch = std::move(fetch), sink = ids.get()] { return fetch(sink); };
  auto join = [state = self.get(), ids](std::string_view k, const asio::any_io_executor& ex,
                                        std::unique_ptr<flight_waiter> waiter, load_function load) {
    state->join(k, ex, std::move(waiter), std::move(load), ids);
  };
  co_return co_await detail::await_flight(key, std::move(load), join);
}

bool live_core::start_refresh(std::string_view key, fetch_rows_function fetch) {
  auto& self = *impl_;
  std::shared_ptr<flight> f;
  {
    std::lock_guard lock(self.mutex);
    // Only current flights are in the table: one begun before an invalidation was
    // detached by it, so a refresh starts afresh.
    f = self.flights.start_if_idle(key);
    if (!f) return false;
  }
  self.add(live_stat::refreshes);
  auto ids = std::make_shared<std::vector<std::string>>();
  load_function load = [fetch = std::move(fetch), sink = ids.get()] { return fetch(sink); };
  self.lead(self.executor, std::string(key), std::move(f), std::move(load), std::move(ids));
  return true;
}

void live_core::impl::join(std::string_view key, const asio::any_io_executor& ex,
                           std::unique_ptr<flight_waiter> waiter, load_function fetch,
                           id_sink ids) {
  flight_table::joined joined;
  {
    std::lock_guard lock(mutex);
    // A flight begun before an invalidation was detached by it: a reader arriving after
    // it (it may be reading its own write) starts a fresh fetch.
    joined = flights.join(key, std::move(waiter));
    if (!joined.leader) {
      add(live_stat::shared_fetches);
      return;
    }
  }
  lead(ex, std::string(key), std::move(joined.f), std::move(fetch), std::move(ids));
}

void live_core::impl::lead(const asio::any_io_executor& ex, std::string key,
                           std::shared_ptr<flight> f, load_function fetch, id_sink ids) {
  // Detached on the first caller's executor: cancelling that caller cancels only its
  // own wait, never the fetch the others wait for.
  asio::co_spawn(
      ex,
      [self = shared_from_this(), key = std::move(key), f = std::move(f), fetch = std::move(fetch),
       ids = std::move(ids)]() -> asio::awaitable<void> {
        // However this coroutine ends (the store's put may throw), the flight leaves the
        // table and every waiter completes.
        flight_lead lead(f, [self, key](const flight* done) {
          std::lock_guard lock(self->mutex);
          self->flights.leave(key, done);
        });
        // Begun before the fetch: an invalidation from here on keeps its rows out.
        fill_ticket install(self->fills, key);
        auto out = co_await run_loader(fetch);
        lead.set_outcome(out);
        self->add(live_stat::fetches);
        if (out)
          co_await self->install(key, *out, install, *ids);
        else
          self->add(live_stat::fetch_faults);
        lead.finish(out);
      },
      [self = shared_from_this()](std::exception_ptr e) {
        // A throw after the fetch: the waiters already have its rows; count the fault.
        if (e) self->add(live_stat::fill_faults);
      });
}

namespace {

// The tags a fill saw, less one occurrence of `own` (the fill's own write's tag).
std::vector<std::string> without_own(const std::vector<std::string>& tags, std::string_view own) {
  std::vector<std::string> out = tags;
  if (own.empty()) return out;
  if (auto it = std::find(out.begin(), out.end(), own); it != out.end()) out.erase(it);
  return out;
}

}  // namespace

asio::awaitable<void> live_core::impl::install(const std::string& key, const blob& value,
                                               fill_ticket& ticket,
                                               const std::vector<std::string>& ids,
                                               std::string_view own_tag, fill_stats stats) {
  // Committed, the fill is one an invalidation waits out before it removes anything, so
  // the put below can never land after a removal it should have preceded; refused, an
  // invalidation began since the fetch did (the group's, or one of rows this fill read:
  // the guard's tags are judged against the rows it holds).
  const std::string_view rest = std::string_view(key).substr(prefix.size());
  const bool is_page = rest.starts_with("page/");
  const bool is_cursor = rest.starts_with("after/");
  const std::string_view after = is_cursor ? rest.substr(6) : std::string_view{};
  const bool committed = ticket.try_commit([&](const std::vector<std::string>& seen) {
    const auto tags = without_own(seen, own_tag);
    if (is_page) return index.page_stale(ids, tags);
    if (is_cursor) return index.cursor_stale(after, ids, tags);
    return page_index::row_stale(rest.substr(3), tags);
  });
  if (!committed || dirty.load()) {
    add(stats.dropped);
    co_return;
  }
  if ((is_page || is_cursor) && options.invalidation == invalidation_mode::rows) {
    // Known before it is stored: a writer that waits this fill out finds its rows.
    std::optional<std::string> dropped;
    {
      std::lock_guard lock(index_mutex);
      if (is_cursor) {
        if (auto gone = index.record_cursor(std::string(after), ids)) dropped = cursor_key(*gone);
      } else if (auto gone = index.record(std::stoull(std::string(rest.substr(5))), ids)) {
        dropped = page_key(*gone);
      }
    }
    if (dropped) {
      // A page the index forgot could go stale unseen: it leaves the store first.
      add(live_stat::pages_untracked);
      const auto gone = co_await store.erase(*dropped);
      if (!gone) {
        dirty.store(true);
        add(live_stat::invalidation_faults);
      }
    }
  }
  const auto ec = co_await store.put(key, value);
  ticket.end();
  add(ec ? live_stat::fill_faults : stats.landed);
}

asio::awaitable<result<std::uint64_t>> live_core::invalidate(live_notification note) {
  std::optional<live_notification> n = std::move(note);
  co_return co_await impl_->invalidate(std::move(n));
}

asio::awaitable<result<std::uint64_t>> live_core::impl::invalidate(
    std::optional<live_notification> note) {
  auto self = shared_from_this();
  result<std::uint64_t> removed = std::uint64_t{0};
  {
    {
      std::lock_guard lock(mutex);
      generation.fetch_add(1);
      flights.detach(prefix, false);
    }
    // Fills already writing land first; the rest stand down.
    auto scope = co_await enter(fills, prefix, false);
    removed = co_await store.invalidate_prefix(prefix);
    if (removed) {
      {
        std::lock_guard lock(index_mutex);
        index.clear();
      }
      dirty.store(false);
      add(live_stat::invalidations);
      add(live_stat::entries_invalidated, *removed);
    } else {
      // The store may still hold entries from before: bypass it until a retry succeeds.
      dirty.store(true);
      add(live_stat::invalidation_faults);
    }
  }
  if (note) {
    note->generation = generation.load();
    publish(*note);
  }
  co_return removed;
}

asio::awaitable<result<std::uint64_t>> live_core::invalidate_change(live_notification note,
                                                                    std::vector<std::string> ids) {
  co_return co_await impl_->invalidate_change(std::move(note), std::move(ids));
}

asio::awaitable<result<std::uint64_t>> live_core::impl::invalidate_change(
    live_notification note, std::vector<std::string> ids) {
  auto self = shared_from_this();
  std::optional<live_notification> out = std::move(note);
  if (options.invalidation == invalidation_mode::group || is_resync(out->kind)) {
    co_return co_await invalidate(std::move(out));
  }
  // The tags a fill in flight judges by what it read; the plan is taken once every fill
  // already storing has landed (and recorded its rows).
  std::vector<std::string> tags;
  for (const auto& id : ids)
    tags.push_back(out->kind == change_kind::updated ? update_tag(id) : shift_tag(id));
  result<std::uint64_t> removed = std::uint64_t{0};
  bool group = false;
  {
    {
      std::lock_guard lock(mutex);
      generation.fetch_add(1);
      // A reader arriving after this change must not join a fetch begun before it: the
      // rows' flights, and every page's, since a page in flight has not said what it holds.
      for (const auto& id : ids)
        flights.detach(row_key(id), true);
      flights.detach(prefix + "page/", false);
      flights.detach(prefix + "after/", false);
    }
    auto scope = co_await enter_tags(fills, std::move(tags));
    invalidation_plan plan;
    {
      std::lock_guard lock(index_mutex);
      plan = index.take(out->kind, ids);
    }
    if (plan.group) {
      group = true;
    } else {
      std::uint64_t n = 0;
      bool failed = false;
      std::vector<std::string> keys;
      for (const auto& id : plan.row_ids)
        keys.push_back(row_key(id));
      for (const auto page : plan.pages)
        keys.push_back(page_key(page));
      for (const auto& cursor : plan.cursors)
        keys.push_back(cursor_key(cursor));
      for (const auto& key : keys) {
        const auto gone = co_await store.erase(key);
        if (!gone)
          failed = true;
        else if (*gone)
          ++n;
      }
      if (failed) {
        // An entry may still hold the old rows: bypass the store until a group
        // invalidation succeeds.
        dirty.store(true);
        add(live_stat::invalidation_faults);
        removed = make_error_code(errc::io_error);
      } else {
        add(live_stat::invalidations);
        add(live_stat::row_invalidations);
        add(live_stat::entries_invalidated, n);
        removed = n;
      }
    }
  }
  if (group) co_return co_await invalidate(std::move(out));
  out->generation = generation.load();
  publish(*out);
  co_return removed;
}

live_table_metrics live_core::metrics() const {
  const auto& self = *impl_;
  auto get = [&](live_stat s) {
    return self.stats[static_cast<unsigned>(s)].load(std::memory_order_relaxed);
  };
  live_table_metrics m;
  m.page_hits = get(live_stat::page_hits);
  m.page_misses = get(live_stat::page_misses);
  m.row_hits = get(live_stat::row_hits);
  m.row_misses = get(live_stat::row_misses);
  m.fetches = get(live_stat::fetches);
  m.shared_fetches = get(live_stat::shared_fetches);
  m.fetch_faults = get(live_stat::fetch_faults);
  m.fills = get(live_stat::fills);
  m.fills_dropped = get(live_stat::fills_dropped);
  m.fill_faults = get(live_stat::fill_faults);
  m.store_faults = get(live_stat::store_faults);
  m.decode_faults = get(live_stat::decode_faults);
  m.bypassed_reads = get(live_stat::bypassed_reads);
  m.invalidations = get(live_stat::invalidations);
  m.row_invalidations = get(live_stat::row_invalidations);
  m.pages_untracked = get(live_stat::pages_untracked);
  m.echoes_skipped = get(live_stat::echoes_skipped);
  m.patches = get(live_stat::patches);
  m.patches_dropped = get(live_stat::patches_dropped);
  m.invalidation_faults = get(live_stat::invalidation_faults);
  m.entries_invalidated = get(live_stat::entries_invalidated);
  m.writes = get(live_stat::writes);
  m.write_faults = get(live_stat::write_faults);
  m.write_retries = get(live_stat::write_retries);
  m.writes_cancelled = get(live_stat::writes_cancelled);
  m.events = get(live_stat::events);
  m.resyncs = get(live_stat::resyncs);
  m.event_faults = get(live_stat::event_faults);
  m.stale_served = get(live_stat::stale_served);
  m.refreshes = get(live_stat::refreshes);
  m.watch_lagged = get(live_stat::watch_lagged);
  {
    std::lock_guard lock(impl_->mutex);
    m.queue_depth = impl_->outstanding;
  }
  m.generation = self.generation.load();
  return m;
}

}  // namespace larder::detail
