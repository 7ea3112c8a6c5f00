// The io_uring backend. One strand owns the ring: it alone fills SQEs, submits and reaps.
// Other threads hand requests over through a lock-free queue and post the strand once per
// batch, so that everything requested during one turn of the loop goes in one io_uring_enter.
#include "io/backends.hpp"  // first: see there
#include "io/uring_chains.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <asio/bind_executor.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <cerrno>
#include <deque>
#include <vector>

namespace larder::detail::io {
namespace {

// Marks the user_data of the ring's own cancel requests: the target op's address (ops are
// aligned, so bit 0 is free) or 0 for "everything". The target stays referenced until the
// cancel's CQE, so that its address cannot be reused by a new op the cancel would hit.
constexpr std::uint64_t cancel_tag = 1;
// The SQEs of a chain carry the op's address with their position in the chain in bits 1-2.
constexpr unsigned position_shift = 1;
constexpr std::uint64_t position_mask = 3u << position_shift;
static_assert(alignof(op) >= 8);

op* op_of(std::uint64_t user_data) {
  return reinterpret_cast<op*>(user_data & ~(position_mask | cancel_tag));
}
unsigned position_of(std::uint64_t user_data) {
  return static_cast<unsigned>((user_data & position_mask) >> position_shift);
}

struct request {
  op* target;   // holds a reference; null with `cancel` means every request in the kernel
  bool cancel;  // ask the kernel to cancel `target` rather than start it
};

class uring_backend final : public backend, public std::enable_shared_from_this<uring_backend> {
 public:
  explicit uring_backend(asio::io_context& io) : strand_(asio::make_strand(io)), eventfd_(io) {}
  ~uring_backend() override;
  std::error_code init(const io_engine_options& options);

  void start(op* const* ops, std::size_t count) noexcept override;
  void cancel(op& o) noexcept override;
  void shutdown() noexcept override;

 private:
  void wake() noexcept;
  void pump();
  void reap();
  void fill_and_submit();
  bool place(const request& r);
  bool place_chain(op& o, unsigned n);
  void finished_in_ring(op& o) noexcept;
  io_uring_sqe* next_sqe();
  bool submit_now();
  void arm_wait();
  void on_cqe(std::uint64_t user_data, int res);

  asio::strand<asio::io_context::executor_type> strand_;
  asio::posix::stream_descriptor eventfd_;
  io_uring ring_{};
  bool ring_ready_ = false;
  moodycamel::ConcurrentQueue<request> queue_;
  std::atomic<bool> pump_posted_{false};
  // Touched only on strand_ (and by the destructor, when nothing else can run).
  std::deque<request> backlog_;  // picked up but not yet in an SQE (SQ full, or resubmission)
  std::size_t in_kernel_ = 0;    // CQEs still to come (one per SQE, one per chain)
  std::vector<int> free_slots_;  // registered-file slots for chains (none: no chains)
  unsigned unsubmitted_ = 0;
  bool wait_armed_ = false;
};

std::error_code uring_backend::init(const io_engine_options& options) {
  const int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return {errno, std::system_category()};
  std::error_code ec;
  eventfd_.assign(efd, ec);
  if (ec) {
    ::close(efd);
    return ec;
  }

  const unsigned sq = options.queue_depth ? options.queue_depth : 256;
  io_uring_params params{};
  params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SUBMIT_ALL;
  params.cq_entries = options.completion_queue_depth ? options.completion_queue_depth : sq * 4;
  int r = io_uring_queue_init_params(sq, &ring_, &params);
  if (r == -EINVAL) {  // SUBMIT_ALL needs 5.18; the rest is older
    const unsigned cq = params.cq_entries;
    params = {};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
    params.cq_entries = cq;
    r = io_uring_queue_init_params(sq, &ring_, &params);
  }
  if (r < 0) return {-r, std::system_category()};
  ring_ready_ = true;
  // Best effort: without chains, each step of a path request is its own SQE. A chain must
  // fit the submission queue whole.
  if (params.sq_entries >= max_chain_length && set_up_linked_chains(ring_, params, sq)) {
    free_slots_.resize(sq);
    for (unsigned i = 0; i < sq; ++i)
      free_slots_[i] = static_cast<int>(sq - 1 - i);
  }

  // Without NODROP an overflowing CQ loses completions, and with them the ops' owners.
  if (!(params.features & IORING_FEAT_NODROP)) return make_error_code(std::errc::not_supported);
  io_uring_probe* probe = io_uring_get_probe_ring(&ring_);
  if (!probe) return make_error_code(std::errc::function_not_supported);
  bool all = true;
  for (int code :
       {IORING_OP_OPENAT, IORING_OP_OPENAT2, IORING_OP_READ, IORING_OP_WRITE, IORING_OP_WRITEV,
        IORING_OP_CLOSE, IORING_OP_FSYNC, IORING_OP_RENAMEAT, IORING_OP_UNLINKAT, IORING_OP_MKDIRAT,
        IORING_OP_STATX, IORING_OP_POLL_ADD, IORING_OP_ASYNC_CANCEL})
    all = all && io_uring_opcode_supported(probe, code);
  io_uring_free_probe(probe);
  if (!all) return make_error_code(std::errc::function_not_supported);

  if ((r = io_uring_register_eventfd(&ring_, efd)) < 0) return {-r, std::system_category()};
  // Best effort (5.15+): without a bound, blocking opens and fsyncs could spawn many workers.
  unsigned workers[2] = {options.max_workers, options.max_workers};
  if (options.max_workers) io_uring_register_iowq_max_workers(&ring_, workers);
  return {};
}

uring_backend::~uring_backend() {
  if (!ring_ready_) return;
  // Nothing references us any more, so no handler of ours is queued: the io_context is being
  // torn down and will not drive this ring again. The kernel may still write into buffers of
  // requests in flight, so cancel and reap every one of them before anything is freed.
  stopping_.store(true);
  request r;
  while (queue_.try_dequeue(r))
    backlog_.push_back(r);
  for (const request& q : backlog_) {
    if (!q.target) continue;
    if (q.cancel)
      q.target->release();
    else
      discard(*q.target);
  }
  if (in_kernel_ > 0) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe && io_uring_submit(&ring_) >= 0) sqe = io_uring_get_sqe(&ring_);
    if (sqe) {
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, cancel_tag);
      ++in_kernel_;
    }
    io_uring_submit(&ring_);
  }
  while (in_kernel_ > 0) {
    io_uring_cqe* cqe = nullptr;
    const int w = io_uring_wait_cqe(&ring_, &cqe);
    if (w == -EINTR) continue;
    if (w < 0) break;  // leak what is left rather than free memory the kernel may write
    const std::uint64_t user_data = cqe->user_data;
    const int res = cqe->res;
    io_uring_cqe_seen(&ring_, cqe);
    --in_kernel_;
    if (user_data & cancel_tag) {
      if (auto* target = reinterpret_cast<op*>(user_data & ~cancel_tag)) target->release();
      continue;
    }
    auto* o = op_of(user_data);
    o->complete_chain(position_of(user_data), res);
    if (o->chain_pending()) {
      ++in_kernel_;  // its chain's other CQE is still to come
      continue;
    }
    discard(*o);
  }
  io_uring_queue_exit(&ring_);
}

void uring_backend::start(op* const* ops, std::size_t count) noexcept {
  counters_.submitted.fetch_add(count, std::memory_order_relaxed);
  for (std::size_t i = 0; i < count; ++i) {
    ops[i]->add_ref();
    if (!queue_.enqueue(request{ops[i], false})) {
      ops[i]->fail(-ENOMEM);
      finish(*ops[i]);
    }
  }
  wake();
}

void uring_backend::cancel(op& o) noexcept {
  o.add_ref();
  if (queue_.enqueue(request{&o, true}))
    wake();
  else
    o.release();  // best effort
}

void uring_backend::shutdown() noexcept {
  if (stopping_.exchange(true)) return;
  const bool busy = counters_.submitted.load() != counters_.completed.load();
  if (busy && queue_.enqueue(request{nullptr, true})) wake();
}

void uring_backend::wake() noexcept {
  // One posted pump per batch: later hand-offs ride on the pump already queued.
  if (pump_posted_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(strand_, [self = shared_from_this()] {
    self->pump_posted_.store(false, std::memory_order_release);
    self->pump();
  });
}

void uring_backend::pump() {
  for (;;) {
    reap();
    fill_and_submit();
    if (in_kernel_ == 0) {
      // Nothing to wait for: drop the wait so that the io_context can run out of work.
      std::error_code ignored;
      if (wait_armed_) eventfd_.cancel(ignored);
      return;
    }
    arm_wait();
    // Asio's reactor drops an eventfd edge that came while no wait was armed; look again.
    if (io_uring_cq_ready(&ring_) == 0 && !io_uring_cq_has_overflow(&ring_)) return;
  }
}

void uring_backend::arm_wait() {
  if (wait_armed_) return;
  wait_armed_ = true;
  eventfd_.async_wait(asio::posix::stream_descriptor::wait_read,
                      asio::bind_executor(strand_, [self = shared_from_this()](std::error_code ec) {
                        self->wait_armed_ = false;
                        eventfd_t ignored;
                        if (!ec) ::eventfd_read(self->eventfd_.native_handle(), &ignored);
                        self->pump();
                      }));
}

void uring_backend::reap() {
  for (;;) {
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      on_cqe(cqe->user_data, cqe->res);
      ++seen;
    }
    io_uring_cq_advance(&ring_, seen);
    if (io_uring_cq_has_overflow(&ring_)) {
      // The kernel kept what did not fit (NODROP); entering with GETEVENTS moves it over.
      counters_.cq_overflows.fetch_add(1, std::memory_order_relaxed);
      io_uring_get_events(&ring_);
      continue;
    }
    if (seen == 0) return;
  }
}

void uring_backend::on_cqe(std::uint64_t user_data, int res) {
  --in_kernel_;
  if (user_data & cancel_tag) {
    if (auto* target = reinterpret_cast<op*>(user_data & ~cancel_tag)) target->release();
    return;
  }
  auto* o = op_of(user_data);
  const bool finished = o->complete_chain(position_of(user_data), res);
  if (o->chain_pending()) {
    ++in_kernel_;  // its chain's other CQE is still to come
    return;
  }
  if (!finished) {
    const bool stop = o->cancellable() && (o->cancel_requested.load() || stopping());
    if (!stop) {
      backlog_.push_back(request{o, false});  // the rest of it; still ours, still in_ring
      return;
    }
    o->fail(-ECANCELED);
  }
  finished_in_ring(*o);
}

void uring_backend::finished_in_ring(op& o) noexcept {
  o.in_ring = false;
  if (const int slot = o.take_slot(); slot >= 0) free_slots_.push_back(slot);
  finish(o);
}

io_uring_sqe* uring_backend::next_sqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (!sqe && unsubmitted_ > 0 && submit_now()) sqe = io_uring_get_sqe(&ring_);
  return sqe;
}

bool uring_backend::submit_now() {
  for (;;) {
    const int r = io_uring_submit(&ring_);
    counters_.submit_calls.fetch_add(1, std::memory_order_relaxed);
    if (r >= 0) {
      unsubmitted_ = 0;
      return true;
    }
    if (r == -EINTR) continue;
    // EBUSY/EAGAIN: the kernel wants completions reaped first. The SQEs stay in the ring;
    // a later pump (reap, then submit) sends them.
    wake();
    return false;
  }
}

bool uring_backend::place(const request& r) {
  if (r.cancel) {
    if (r.target && !r.target->in_ring) {  // finished, or not picked up yet (sees its flag)
      r.target->release();
      return true;
    }
    io_uring_sqe* sqe = next_sqe();
    if (!sqe) return false;
    const auto target = reinterpret_cast<std::uintptr_t>(r.target);
    io_uring_prep_cancel64(sqe, target, target ? 0 : IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, target | cancel_tag);
    ++in_kernel_;
    ++unsubmitted_;
    return true;
  }
  op& o = *r.target;
  if (o.cancellable() && (o.cancel_requested.load() || stopping())) {
    o.fail(-ECANCELED);
    finished_in_ring(o);
    return true;
  }
  if (!free_slots_.empty())
    if (const unsigned n = o.chain_length(); n > 0 && n <= max_chain_length)
      return place_chain(o, n);
  io_uring_sqe* sqe = next_sqe();
  if (!sqe) return false;
  o.prepare(*sqe);
  io_uring_sqe_set_data(sqe, &o);
  o.in_ring = true;
  ++in_kernel_;
  ++unsubmitted_;
  return true;
}

bool uring_backend::place_chain(op& o, unsigned n) {
  // A chain must reach the kernel whole, in one submission: make room for all of it first.
  if (io_uring_sq_space_left(&ring_) < n && (unsubmitted_ == 0 || !submit_now())) return false;
  if (io_uring_sq_space_left(&ring_) < n) return false;
  io_uring_sqe* sqes[max_chain_length];
  for (unsigned i = 0; i < n; ++i)
    sqes[i] = io_uring_get_sqe(&ring_);
  const int slot = free_slots_.back();
  free_slots_.pop_back();
  o.prepare_chain(sqes, slot);
  const auto address = reinterpret_cast<std::uint64_t>(&o);
  for (unsigned i = 0; i < n; ++i)
    io_uring_sqe_set_data64(sqes[i], address | (std::uint64_t{i} << position_shift));
  o.in_ring = true;
  ++in_kernel_;
  unsubmitted_ += n;
  counters_.chains.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void uring_backend::fill_and_submit() {
  // place() fails only when the ring refuses SQEs (submit said EBUSY); a pump is posted then.
  bool room = true;
  while (room && !backlog_.empty()) {
    room = place(backlog_.front());
    if (room) backlog_.pop_front();
  }
  request r;
  while (room && queue_.try_dequeue(r)) {
    room = place(r);
    if (!room) backlog_.push_back(r);
  }
  if (unsubmitted_ > 0) submit_now();
}

}  // namespace

std::shared_ptr<backend> make_uring_backend(asio::io_context& io, const io_engine_options& options,
                                            std::error_code& why) {
  auto b = std::make_shared<uring_backend>(io);
  why = b->init(options);
  if (why) return nullptr;
  return b;
}

}  // namespace larder::detail::io
