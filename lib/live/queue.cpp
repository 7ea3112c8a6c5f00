// live_core: the write queue and its worker, the event consumer, startup and shutdown.
#include <algorithm>
#include <asio/bind_cancellation_slot.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "live/core_impl.hpp"

namespace larder::detail {

namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

std::chrono::milliseconds next_backoff(std::chrono::milliseconds now,
                                       const live_table_options& options) {
  return std::min(now * 2, options.max_backoff);
}

// The worker: one write at a time, in the order they were queued.
asio::awaitable<void> write_worker(std::shared_ptr<live_core::impl> self) {
  for (;;) {
    auto [ec, item] = co_await self->queue.async_receive(as_tuple_awaitable);
    if (ec) break;
    if (item) {
      bool cancel = false, after_shutdown = false;
      {
        std::lock_guard lock(self->mutex);
        after_shutdown = self->closing;
        cancel = self->closing && self->mode == shutdown_mode::cancel;
      }
      result<write_receipt> outcome = errc::cancelled;
      if (cancel) {
        self->add(live_stat::writes_cancelled);
      } else {
        outcome = co_await self->run(item->job);
      }
      // Capacity 1 and one message: never full. A writer that stopped waiting (it was
      // cancelled) leaves the message unread; the channel goes with the item.
      (void)item->done.try_send(std::error_code{}, std::move(outcome));
      std::lock_guard lock(self->mutex);
      --self->outstanding;
      if (after_shutdown) ++(cancel ? self->cancelled : self->drained);
    }
    std::lock_guard lock(self->mutex);
    if (self->closing && self->outstanding == 0) break;
  }
  self->queue.close();
  (void)self->worker_done.try_send(std::error_code{}, true);
}

// The consumer: every event, and every sign that events were lost, invalidates the group.
asio::awaitable<void> event_consumer(std::shared_ptr<live_core::impl> self, event_function next) {
  auto backoff = self->options.initial_backoff;
  while (!self->stopping.load()) {
    result<change_event> event = errc::loader_failed;
    try {
      event = co_await next();
    } catch (...) {
      event = errc::loader_failed;
    }
    if (self->stopping.load()) break;
    std::optional<live_notification> note;
    if (!event) {
      // A broken stream may have lost events: treat it as a reconnect, so the group is
      // invalidated now and again whenever the stream keeps failing.
      note = live_notification{change_kind::reconnected, {}, 0};
      (void)co_await self->invalidate(std::move(note));
      // Counted once the invalidation completed, so a reader that sees the count also
      // sees its effect.
      self->add(live_stat::event_faults);
      asio::steady_timer pause(self->consumer_strand, backoff);
      (void)co_await pause.async_wait(as_tuple_awaitable);
      backoff = next_backoff(backoff, self->options);
      continue;
    }
    backoff = self->options.initial_backoff;
    const bool resync = is_resync(event->kind);
    if (!resync && self->own_echo(event->tag)) {
      // This table's own write, reported back: the worker invalidates (or already did)
      // what it changed before acknowledging it, and watchers hear of it from there.
      self->add(live_stat::echoes_skipped);
      self->add(live_stat::events);
      continue;
    }
    std::vector<std::string> ids;
    if (!event->id.empty()) ids.push_back(event->id);
    for (auto& id : event->more_ids)
      ids.push_back(std::move(id));
    live_notification change{event->kind, std::move(event->id), 0};
    (void)co_await self->invalidate_change(std::move(change), std::move(ids));
    // Counted after the invalidation, not before: a test (or a metrics reader) waiting
    // for `events == n` must find the event's pages already gone.
    self->add(live_stat::events);
    if (resync) self->add(live_stat::resyncs);
  }
  (void)self->consumer_done.try_send(std::error_code{}, true);
}

}  // namespace

asio::awaitable<result<write_receipt>> live_core::impl::run(write_job& job) {
  auto backoff = options.initial_backoff;
  result<write_receipt> outcome = errc::loader_failed;
  const std::uint64_t tag = own_begin();
  // An optimistic write's rewrites begin before the source sees the write, so that any
  // change overlapping it keeps them out (optimistic.cpp).
  std::optional<optimistic_fills> rewrites;
  if (optimistic(job)) rewrites.emplace(co_await begin_optimistic(job));
  std::optional<write_patch> patch;
  for (unsigned attempt = 1;; ++attempt) {
    try {
      patch.reset();
      outcome = co_await job.apply(tag, rewrites ? &patch : nullptr);
    } catch (...) {
      outcome = errc::loader_failed;  // a throwing source must not end the worker
    }
    if (outcome || attempt >= options.write_attempts || !options.is_transient ||
        !options.is_transient(outcome.error()))
      break;
    add(live_stat::write_retries);
    asio::steady_timer pause(executor, backoff);
    (void)co_await pause.async_wait(as_tuple_awaitable);
    backoff = next_backoff(backoff, options);
  }
  if (!outcome) {
    // The source refused: nothing changed there, so the cache stays as it is. Unless it
    // reported a change under this write's tag anyway (skipped as an echo): then what
    // changed is unknown, and the group goes.
    add(live_stat::write_faults);
    if (own_end(tag, false)) {
      std::optional<live_notification> note = live_notification{change_kind::changed, {}, 0};
      (void)co_await invalidate(std::move(note));
    }
    co_return outcome;
  }
  (void)own_end(tag, true);
  add(live_stat::writes);
  // The group goes before the caller hears of its write, so its next read misses and
  // fetches from the source. If the removal fails the group is left dirty and reads
  // bypass the store, which keeps that promise too.
  std::string id = job.id.empty() ? outcome->id : job.id;
  std::vector<std::string> ids;
  if (job.kind != change_kind::changed && !id.empty()) ids.push_back(id);
  live_notification note{job.kind, std::move(id), 0};
  (void)co_await invalidate_change(std::move(note), std::move(ids));
  // Landed after the invalidation and before the caller completes: its next read hits
  // the row the master returned.
  if (rewrites && patch) co_await land_optimistic(*rewrites, *patch, job.kind);
  co_return outcome;
}

asio::awaitable<std::error_code> live_core::start(event_function events) {
  auto self = impl_;
  std::optional<live_notification> quiet;
  auto cleared = co_await self->invalidate(std::move(quiet));
  if (!cleared) co_return cleared.error();
  {
    std::lock_guard lock(self->mutex);
    if (self->closing) co_return make_error_code(errc::shut_down);
    self->worker_started = true;
    self->consumer_started = static_cast<bool>(events);
  }
  asio::co_spawn(self->executor, write_worker(self), asio::detached);
  if (events) {
    asio::co_spawn(self->consumer_strand, event_consumer(self, std::move(events)),
                   asio::bind_cancellation_slot(self->consumer_stop.slot(), asio::detached));
  }
  co_return std::error_code{};
}

asio::awaitable<result<write_receipt>> live_core::submit(write_job job) {
  auto self = impl_;
  auto executor = co_await asio::this_coro::executor;
  auto item = std::make_shared<queued_write>(std::move(job), executor);
  {
    std::lock_guard lock(self->mutex);
    if (self->closing || !self->worker_started) co_return errc::shut_down;
    ++self->outstanding;
  }
  // Waits while the queue is full: backpressure, never a dropped write.
  auto [send_error] = co_await self->queue.async_send(std::error_code{}, item, as_tuple_awaitable);
  if (send_error) {
    self->job_abandoned();
    co_return errc::cancelled;
  }
  auto [ec, outcome] = co_await item->done.async_receive(as_tuple_awaitable);
  if (ec) co_return errc::cancelled;
  co_return outcome;
}

void live_core::impl::job_abandoned() {
  std::lock_guard lock(mutex);
  --outstanding;
  if (closing && outstanding == 0) wake_worker();
}

void live_core::impl::wake_worker() {
  // Called with `mutex` held and nothing outstanding, so the queue is empty and the
  // wake-up fits; if it did not, the worker is awake anyway.
  (void)queue.try_send(std::error_code{}, nullptr);
}

bool live_core::impl::begin_shutdown(shutdown_mode how) {
  {
    std::lock_guard lock(mutex);
    if (closing) return false;
    closing = true;
    mode = how;
    if (worker_started && outstanding == 0) wake_worker();
  }
  stopping.store(true);
  // The signal belongs to the consumer's strand: emitting from anywhere else would race
  // with the slot handlers its awaits install.
  asio::post(consumer_strand, [self = shared_from_this()] {
    self->consumer_stop.emit(asio::cancellation_type::terminal);
  });
  return true;
}

asio::awaitable<result<shutdown_report>> live_core::shutdown(shutdown_mode mode) {
  auto self = impl_;
  if (!self->begin_shutdown(mode)) co_return errc::shut_down;
  if (self->worker_started) (void)co_await self->worker_done.async_receive(as_tuple_awaitable);
  if (self->consumer_started) (void)co_await self->consumer_done.async_receive(as_tuple_awaitable);
  self->close_watchers();
  shutdown_report report;
  report.mode = mode;
  std::lock_guard lock(self->mutex);
  report.drained = self->drained;
  report.cancelled = self->cancelled;
  co_return report;
}

void live_core::shutdown_detached() {
  auto self = impl_;
  if (!self->begin_shutdown(shutdown_mode::cancel)) return;
  asio::co_spawn(
      self->executor,
      [self]() -> asio::awaitable<void> {
        if (self->worker_started)
          (void)co_await self->worker_done.async_receive(as_tuple_awaitable);
        if (self->consumer_started)
          (void)co_await self->consumer_done.async_receive(as_tuple_awaitable);
        self->close_watchers();
      },
      asio::detached);
}

}  // namespace larder::detail

namespace larder {

bool default_is_transient(std::error_code ec) noexcept {
  return ec == errc::timed_out || ec == errc::backend_unavailable ||
         ec == std::errc::resource_unavailable_try_again ||
         ec == std::errc::device_or_resource_busy || ec == std::errc::timed_out;
}

const char* to_string(change_kind kind) noexcept {
  switch (kind) {
    case change_kind::changed:
      return "changed";
    case change_kind::inserted:
      return "inserted";
    case change_kind::updated:
      return "updated";
    case change_kind::deleted:
      return "deleted";
    case change_kind::overflow:
      return "overflow";
    case change_kind::lagged:
      return "lagged";
    case change_kind::reconnected:
      return "reconnected";
  }
  return "unknown";
}

const char* to_string(write_kind kind) noexcept {
  switch (kind) {
    case write_kind::insert:
      return "insert";
    case write_kind::replace:
      return "replace";
    case write_kind::patch:
      return "patch";
    case write_kind::erase:
      return "erase";
    case write_kind::erase_all:
      return "erase_all";
  }
  return "unknown";
}

}  // namespace larder
