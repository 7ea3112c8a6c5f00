#include "stores/redis/pipeline.hpp"

#include <algorithm>
#include <cassert>

namespace larder::redis {
namespace {

// Cluster redirects are the router's business (it counts them), not errors.
bool is_redirect(std::string_view text) {
  for (std::string_view p : {"MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN"})
    if (text.substr(0, p.size()) == p) return true;
  return false;
}

}  // namespace

pipeline::pipeline(const asio::any_io_executor& executor, link_settings settings,
                   pipeline_options options, std::shared_ptr<link_stats> stats)
    : link(executor, std::move(settings)),
      options_(options),
      stats_(std::move(stats)),
      sweep_(strand()),
      backoff_(options_.backoff_min),
      setup_backoff_(options_.backoff_max) {}

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
    if (!self->active() && !self->shut_down_) self->connect();
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
  if (!batch_.empty()) {
    send(batch_);
    batch_.clear();
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
  if (!active() && clock::now() >= retry_at_) connect();
  if (!active()) return fail(r, down_code_);
  // Requests wait in held_ until the setup (AUTH, SELECT, ...) succeeded: nothing runs
  // on a connection that is not logged in.
  (connected() ? batch_ : held_).append(r->text);
  std::string().swap(r->text);
  in_flight_.push_back(r);
}

void pipeline::on_reply(redisReply* raw) {
  if (in_flight_.empty()) return;  // nothing asked: not ours (cannot happen in RESP2)
  request* r = in_flight_.front();
  if (r->skip > 0) {
    --r->skip;
    return;
  }
  in_flight_.pop_front();
  auto out = reply::from(*raw);
  if (out.type == reply::kind::error && !is_redirect(out.bytes.view())) {
    stats_->remote_errors.fetch_add(1, std::memory_order_relaxed);
    const auto text = out.bytes.view();
    if (classify_command_error(text) == errc::no_space)
      stats_->no_space.fetch_add(1, std::memory_order_relaxed);
    settings().errors->record(describe_error(step::command, endpoint_name(), text));
  }
  r->complete(std::move(out));
  arm_sweep();
}

void pipeline::on_note(step s, const std::string&) {
  if (s == step::function_load) stats_->setup_errors.fetch_add(1, std::memory_order_relaxed);
  if (s == step::policy) stats_->policy_unchecked.fetch_add(1, std::memory_order_relaxed);
}

void pipeline::on_up() {
  backoff_ = options_.backoff_min;
  setup_backoff_ = options_.backoff_max;
  stats_->connects.fetch_add(1, std::memory_order_relaxed);
  stats_->up.fetch_add(1, std::memory_order_relaxed);
  if (!held_.empty()) {
    send(held_);
    held_.clear();
  }
}

void pipeline::on_down(bool was_up, const failure* why) {
  const bool refused = why != nullptr && why->misconfigured;
  if (was_up) {
    stats_->disconnects.fetch_add(1, std::memory_order_relaxed);
    stats_->up.fetch_sub(1, std::memory_order_relaxed);
  } else {
    stats_->connect_failures.fetch_add(1, std::memory_order_relaxed);
    if (refused) stats_->setup_failures.fetch_add(1, std::memory_order_relaxed);
  }
  // A refused setup will be refused again: wait long, and fail requests meanwhile with
  // a code that says so rather than "unavailable".
  std::chrono::milliseconds delay = backoff_;
  if (refused) {
    delay = setup_backoff_;
    setup_backoff_ =
        std::min(setup_backoff_ * 2, std::max(options_.setup_backoff_max, options_.backoff_max));
  } else {
    backoff_ = std::min(backoff_ * 2, options_.backoff_max);
  }
  retry_at_ = clock::now() + delay;
  down_code_ = refused ? errc::remote_setup_failed : errc::backend_unavailable;
  const errc reason = reset_reason_ == errc::backend_unavailable ? down_code_ : reset_reason_;
  held_.clear();
  auto pending = std::move(in_flight_);
  in_flight_.clear();
  for (request* r : pending)
    fail(r, reason);
  if (!shut_down_) reset_reason_ = errc::backend_unavailable;
  if (sweep_armed_) sweep_.cancel();
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
