#include "stores/redis/pipeline.hpp"

#include <algorithm>
#include <cassert>

namespace larder::redis {

pipeline::pipeline(const asio::any_io_executor& executor, endpoint where, pipeline_options options,
                   std::shared_ptr<link_stats> stats)
    : link(executor, std::move(where)),
      options_(std::move(options)),
      stats_(std::move(stats)),
      sweep_(strand()),
      backoff_(options_.backoff_min) {}

pipeline::~pipeline() {
  shut_down_ = true;
  reset_reason_ = errc::shut_down;
  close();
  request* r = nullptr;
  while (incoming_.try_dequeue(r))
    fail(r, errc::shut_down);
}

void pipeline::start() {
  asio::post(strand(), [self = std::static_pointer_cast<pipeline>(shared_from_this())] {
    if (!self->context() && !self->shut_down_) self->connect();
  });
}

void pipeline::shutdown() {
  asio::post(strand(), [self = std::static_pointer_cast<pipeline>(shared_from_this())] {
    self->shut_down_ = true;
    self->reset_reason_ = errc::shut_down;
    self->close();
    self->drain();
    if (self->sweep_armed_) self->sweep_.cancel();
  });
}

void pipeline::submit(request* r) {
  r->deadline = clock::now() + options_.timeout;
  incoming_.enqueue(r);
  // One posted drain per burst: requests made while it is pending ride along.
  if (!drain_posted_.exchange(true, std::memory_order_acq_rel))
    asio::post(strand(),
               [self = std::static_pointer_cast<pipeline>(shared_from_this())] { self->drain(); });
}

void pipeline::drain() {
  drain_posted_.store(false, std::memory_order_release);
  request* batch[64];
  while (std::size_t n = incoming_.try_dequeue_bulk(batch, 64)) {
    for (std::size_t i = 0; i < n; ++i)
      issue(batch[i]);
  }
  arm();
  arm_sweep();
}

void pipeline::fail(request* r, errc why) {
  if (why == errc::backend_unavailable) stats_->unavailable.fetch_add(1, std::memory_order_relaxed);
  reply out;
  out.fault = make_error_code(why);
  r->complete(std::move(out));
}

void pipeline::issue(request* r) {
  if (shut_down_) return fail(r, errc::shut_down);
  // Reconnect lazily, and only once the backoff since the last failure has passed;
  // until then requests fail at once so that a layered store falls through quickly.
  if (context() == nullptr && clock::now() >= retry_at_) connect();
  if (context() == nullptr) return fail(r, errc::backend_unavailable);
  if (redisAsyncFormattedCommand(context(), &pipeline::on_reply, r, r->text.data(),
                                 r->text.size()) != REDIS_OK)
    return fail(r, errc::backend_unavailable);
  std::string().swap(r->text);  // hiredis holds its own copy now
  in_flight_.push_back(r);
  ++outstanding_;
}

void pipeline::on_reply(redisAsyncContext* context, void* raw, void* privdata) {
  auto* self = static_cast<pipeline*>(static_cast<link*>(context->data));
  auto* r = static_cast<request*>(privdata);
  assert(!self->in_flight_.empty() && self->in_flight_.front() == r);
  self->in_flight_.pop_front();
  --self->outstanding_;
  if (raw == nullptr) {
    // The context is being freed: the reply will never come.
    if (self->reset_reason_ == errc::backend_unavailable)
      self->stats_->unavailable.fetch_add(1, std::memory_order_relaxed);
    reply out;
    out.fault = make_error_code(self->reset_reason_);
    r->complete(std::move(out));
    return;
  }
  auto out = reply::from(*static_cast<redisReply*>(raw));
  if (out.type == reply::kind::error)
    self->stats_->remote_errors.fetch_add(1, std::memory_order_relaxed);
  r->complete(std::move(out));
}

void pipeline::on_setup(redisAsyncContext* context, void* raw, void* /*privdata*/) {
  auto* self = static_cast<pipeline*>(static_cast<link*>(context->data));
  --self->outstanding_;
  auto* r = static_cast<redisReply*>(raw);
  if (r != nullptr && r->type == REDIS_REPLY_ERROR)
    self->stats_->setup_errors.fetch_add(1, std::memory_order_relaxed);
}

void pipeline::on_connecting() {
  // Queued ahead of every request on this connection, so the library exists before any
  // FCALL needs it, even right after a restarted server lost it.
  if (options_.setup.empty()) return;
  if (redisAsyncFormattedCommand(context(), &pipeline::on_setup, nullptr, options_.setup.data(),
                                 options_.setup.size()) == REDIS_OK)
    ++outstanding_;
}

void pipeline::on_up() {
  backoff_ = options_.backoff_min;
  stats_->connects.fetch_add(1, std::memory_order_relaxed);
  stats_->up.fetch_add(1, std::memory_order_relaxed);
}

void pipeline::on_down(bool was_connected) {
  // Every callback has run (with a null reply) before hiredis calls the cleanup hook.
  outstanding_ = 0;
  if (was_connected) {
    stats_->disconnects.fetch_add(1, std::memory_order_relaxed);
    stats_->up.fetch_sub(1, std::memory_order_relaxed);
  } else {
    stats_->connect_failures.fetch_add(1, std::memory_order_relaxed);
  }
  retry_at_ = clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, options_.backoff_max);
  if (!shut_down_) reset_reason_ = errc::backend_unavailable;
  if (sweep_armed_) sweep_.cancel();
}

void pipeline::after_io() {
  arm_sweep();
}

void pipeline::arm_sweep() {
  if (in_flight_.empty()) {
    // Idle: no timer may keep the io_context from returning.
    if (sweep_armed_) sweep_.cancel();
    return;
  }
  if (sweep_armed_) return;
  sweep_armed_ = true;
  sweep_.expires_at(in_flight_.front()->deadline);
  sweep_.async_wait([self = std::static_pointer_cast<pipeline>(shared_from_this())](
                        const std::error_code&) { self->sweep(); });
}

void pipeline::sweep() {
  sweep_armed_ = false;
  if (!in_flight_.empty() && in_flight_.front()->deadline <= clock::now()) {
    // Replies come in order: everything behind the late one is stuck as well. Reset
    // the connection so that they all fail now and the next request reconnects.
    stats_->timeouts.fetch_add(in_flight_.size(), std::memory_order_relaxed);
    reset_reason_ = errc::timed_out;
    close();
    return;
  }
  arm_sweep();
}

}  // namespace larder::redis
