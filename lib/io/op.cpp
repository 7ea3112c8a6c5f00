#include "io/op.hpp"

#include <cerrno>

namespace larder::detail::io {

bool op::complete(int res) {
  if (res == -EAGAIN || res == -EINTR) return false;
  if (res < 0) fail(res);
  return true;
}

bool op::complete_chain(unsigned, int res) {
  return complete(res);
}

bool batch::op_finished() noexcept {
  if (remaining_.fetch_sub(1, std::memory_order_acq_rel) != 1)
    return !delivered_.load(std::memory_order_acquire);
  if (delivered_.exchange(true, std::memory_order_acq_rel)) return false;
  deliver({});
  return true;
}

void batch::op_discarded() noexcept {
  if (!delivered_.exchange(true, std::memory_order_acq_rel)) drop();
}

void batch::complete_now(std::error_code ec) noexcept {
  if (!delivered_.exchange(true, std::memory_order_acq_rel)) deliver(ec);
}

void batch::cancel() noexcept {
  if (delivered_.exchange(true, std::memory_order_acq_rel)) return;
  // Flag every op before asking the backend, so that an op not yet in the kernel is never
  // issued (the backend checks the flag when it picks the op up).
  for (std::size_t i = 0; i < count_; ++i)
    if (ops_[i]->cancellable()) ops_[i]->cancel_requested.store(true);
  if (auto engine = engine_.lock()) {
    engine->counters().cancellations.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < count_; ++i)
      if (ops_[i]->cancellable()) engine->cancel(*ops_[i]);
  }
  deliver(make_error_code(errc::cancelled));
}

void backend::finish(op& o) noexcept {
  const auto ec = o.error();
  if (ec == std::errc::operation_canceled && stopping()) o.set_error(errc::shut_down);
  if (ec && ec != std::errc::operation_canceled)
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
  // Before the caller can resume, so that it sees its own op counted; release, so that a
  // reader of the count also sees the system calls behind it as done.
  counters_.completed.fetch_add(1, std::memory_order_release);
  if (batch* b = std::exchange(o.owner, nullptr)) {
    if (!b->op_finished()) o.abandon();
    b->release();
  } else {
    o.abandon();
  }
  o.release();
}

void backend::discard(op& o) noexcept {
  counters_.completed.fetch_add(1, std::memory_order_release);
  o.abandon();
  if (batch* b = std::exchange(o.owner, nullptr)) {
    b->op_discarded();
    b->release();
  }
  o.release();
}

}  // namespace larder::detail::io
