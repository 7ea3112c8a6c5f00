// The state of one request, shared by both backends, and the batch a caller waits on.
#pragma once

#include "larder/config.hpp"
#if LARDER_HAVE_IO_URING
#include <liburing.h>
#endif

#include <atomic>
#include <cstdint>
#include <memory>
#include <system_error>
#include <utility>

#include "larder/error.hpp"

namespace larder::detail::io {

/// One request never asks for more than the kernel moves in one go (MAX_RW_COUNT is a little
/// under 2 GiB); the resubmission loops do the rest.
inline constexpr std::size_t max_chunk = std::size_t{1} << 30;

class batch;

/// The longest chain of linked SQEs an op may ask for (its position fits two bits).
constexpr unsigned max_chain_length = 4;

/// What a thread-pool worker offers an op while it blocks: waiting that a cancel can cut short.
class blocking_context {
 public:
  virtual ~blocking_context() = default;
  /// Waits until `fd` is ready for `events` (POLLIN/POLLOUT); -ECANCELED if the op was
  /// cancelled meanwhile or the pool is stopping; 0 otherwise.
  virtual int wait_ready(int fd, short events) = 0;
};

/// One request. Heap-allocated and reference-counted: the caller, the backend (while the
/// request is queued or in the kernel) and a pending cancel each hold a reference, so the
/// op and the buffers it owns outlive whichever of them lets go first.
class op {
 public:
  op() = default;
  op(const op&) = delete;
  op& operator=(const op&) = delete;
  virtual ~op() = default;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// Fills `sqe` for the part of the request that is still to do.
#if LARDER_HAVE_IO_URING
  virtual void prepare(io_uring_sqe& sqe) = 0;
#endif
  /// The blocking equivalent of one prepared SQE: returns its result or -errno.
  virtual int perform(blocking_context& ctx) = 0;
  /// Takes one result (a CQE's res, or perform's). True when the op is finished; false
  /// when the remainder must be issued again (a short transfer, EAGAIN, EINTR).
  virtual bool complete(int res);
  /// The caller had gone when this op finished: release what it produced (an fd).
  virtual void abandon() noexcept {}
  /// False for ops that must run even when their caller was cancelled (close).
  virtual bool cancellable() const noexcept { return true; }

  // Linked chains (io_uring only; see uring_backend): the rest of an op as one chain of
  // linked SQEs on a registered-file slot, which the ring runs without coming back to us
  // between steps. A chain posts the CQE of its first SQE that fails, or that of its last;
  // an SQE it hard-links on (no CQE_SKIP_SUCCESS) posts one too, which chain_pending() says.

  /// How many SQEs such a chain needs from where the op stands (at most max_chain_length);
  /// 0 when it cannot chain.
  virtual unsigned chain_length() const noexcept { return 0; }
  /// Fills chain_length() SQEs as that chain, its descriptor in `slot`, which the op holds
  /// until take_slot() hands it back.
#if LARDER_HAVE_IO_URING
  virtual void prepare_chain(io_uring_sqe* const* sqes, int slot);
#endif
  /// Takes a CQE of a chain: `position` is the SQE it belongs to. Returns as complete() does
  /// once the chain is over; until then (chain_pending()) the value means nothing.
  virtual bool complete_chain(unsigned position, int res);
  /// True while a CQE of the op's chain is still to come.
  virtual bool chain_pending() const noexcept { return false; }
  /// The registered-file slot the op holds, given up when it has finished; -1 when none.
  virtual int take_slot() noexcept { return -1; }

  std::error_code error() const noexcept { return error_; }
  void set_error(std::error_code ec) noexcept { error_ = ec; }
  void fail(int negative_errno) noexcept { error_ = {-negative_errno, std::system_category()}; }

  std::atomic<bool> cancel_requested{false};
  std::atomic<int> worker{-1};  // thread pool: the worker running it, for interruption
  bool in_ring = false;         // io_uring: touched only by the ring's strand
  batch* owner = nullptr;       // a reference is held until the op finishes

 protected:
  std::error_code error_;

 private:
  std::atomic<std::uint32_t> refs_{1};
};

/// A reference-owning pointer for op and batch.
template <class T>
class ref_ptr {
 public:
  ref_ptr() noexcept = default;
  explicit ref_ptr(T* adopted) noexcept : p_(adopted) {}
  ref_ptr(const ref_ptr& o) noexcept : p_(o.p_) {
    if (p_) p_->add_ref();
  }
  ref_ptr(ref_ptr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  template <class U>
  ref_ptr(ref_ptr<U>&& o) noexcept : p_(o.detach()) {}  // NOLINT: like a pointer upcast
  T* detach() noexcept { return std::exchange(p_, nullptr); }
  ref_ptr& operator=(ref_ptr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~ref_ptr() {
    if (p_) p_->release();
  }
  static ref_ptr share(T* p) noexcept {
    p->add_ref();
    return ref_ptr(p);
  }
  T* get() const noexcept { return p_; }
  T* operator->() const noexcept { return p_; }
  T& operator*() const noexcept { return *p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

class backend;

/// What a caller waits on: one or more ops started together. Delivery to the caller happens
/// exactly once, by whichever comes first: the last op finishing, or a cancellation.
class batch {
 public:
  batch(std::weak_ptr<backend> engine, op* const* ops, std::size_t count) noexcept
      : engine_(std::move(engine)), ops_(ops), count_(count), remaining_(count) {}
  batch(const batch&) = delete;
  batch& operator=(const batch&) = delete;
  virtual ~batch() = default;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  /// An op of this batch has its final result. False when the caller has already been
  /// completed (cancelled), so the op's product has no taker.
  bool op_finished() noexcept;
  /// An op was dropped unfinished because the io_context is going away.
  void op_discarded() noexcept;
  /// The caller's cancellation slot fired.
  void cancel() noexcept;
  /// Completes the caller with `ec` unless it has been completed already.
  void complete_now(std::error_code ec) noexcept;

 protected:
  /// Resume the caller with `ec`, on its executor.
  virtual void deliver(std::error_code ec) noexcept = 0;
  /// Destroy the caller's handler without resuming it.
  virtual void drop() noexcept = 0;

 private:
  std::weak_ptr<backend> engine_;
  // The caller's frame owns the ops and outlives delivery; after delivery ops_ is not read.
  op* const* ops_;
  std::size_t count_;
  std::atomic<std::size_t> remaining_;
  std::atomic<bool> delivered_{false};
  std::atomic<std::uint32_t> refs_{1};
};

/// Relaxed counters, shared by both backends.
struct backend_counters {
  std::atomic<std::uint64_t> submitted{0}, completed{0}, submit_calls{0}, cq_overflows{0},
      cancellations{0}, errors{0}, chains{0};
};

/// The boundary between io_engine and a backend.
class backend {
 public:
  virtual ~backend() = default;

  /// Takes a reference to each op and starts them together; they finish through finish().
  virtual void start(op* const* ops, std::size_t count) noexcept = 0;
  /// Best effort: stop `o` early. It still finishes through finish().
  virtual void cancel(op& o) noexcept = 0;
  /// Cancel everything running, refuse new work.
  virtual void shutdown() noexcept = 0;

  backend_counters& counters() noexcept { return counters_; }
  bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }

 protected:
  /// The op's final result is in: tell its batch, count it, drop the backend's reference.
  void finish(op& o) noexcept;
  /// The op will never finish (teardown without an io_context): drop it and its caller.
  void discard(op& o) noexcept;

  backend_counters counters_;
  std::atomic<bool> stopping_{false};
};

}  // namespace larder::detail::io
