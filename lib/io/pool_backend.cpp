// The fallback backend: blocking system calls on a few worker threads of its own. Used where
// io_uring cannot be set up (seccomp, old kernels, io_uring_disabled) or when asked for.
#include "io/backends.hpp"  // first: see there

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <semaphore>
#include <thread>
#include <vector>

namespace larder::detail::io {
namespace {

class pool_backend;

// A worker blocks in poll() on the op's fd and on its own eventfd, which cancel() writes:
// a read from a pipe that never gets data can then be stopped without signals.
class worker_context final : public blocking_context {
 public:
  worker_context(const pool_backend& pool, int interrupt_fd) noexcept
      : pool_(pool), interrupt_fd_(interrupt_fd) {}
  int wait_ready(int fd, short events) override;
  bool stop_requested() const noexcept;
  op* current = nullptr;

 private:
  const pool_backend& pool_;
  int interrupt_fd_;
};

class pool_backend final : public backend {
 public:
  explicit pool_backend(unsigned threads);
  ~pool_backend() override;

  void start(op* const* ops, std::size_t count) noexcept override;
  void cancel(op& o) noexcept override;
  void shutdown() noexcept override;

 private:
  void run(unsigned index);
  void execute(op& o, int index, worker_context& ctx) noexcept;
  void interrupt(int index) noexcept;

  moodycamel::ConcurrentQueue<op*> queue_;  // null is the signal for one worker to leave
  std::counting_semaphore<> ready_{0};      // one count per queued entry
  std::vector<int> interrupt_fds_;          // one eventfd per worker
  std::vector<std::thread> threads_;
};

bool worker_context::stop_requested() const noexcept {
  return current->cancellable() && (current->cancel_requested.load() || pool_.stopping());
}

int worker_context::wait_ready(int fd, short events) {
  if (fd < 0) return 0;  // poll would ignore it and wait forever; let the call say EBADF
  pollfd fds[2] = {{fd, events, 0}, {interrupt_fd_, POLLIN, 0}};
  for (;;) {
    if (stop_requested()) return -ECANCELED;
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    if (fds[1].revents & POLLIN) {
      // Possibly left over from an op this worker ran before: recheck, then wait again.
      eventfd_t ignored;
      ::eventfd_read(interrupt_fd_, &ignored);
      continue;
    }
    return 0;  // ready, or an error condition the call itself will report
  }
}

pool_backend::pool_backend(unsigned threads) {
  if (threads == 0) threads = 1;
  for (unsigned i = 0; i < threads; ++i) {
    const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) break;
    interrupt_fds_.push_back(fd);
  }
  if (interrupt_fds_.empty()) throw std::system_error(errno, std::system_category(), "eventfd");
  try {
    for (unsigned i = 0; i < interrupt_fds_.size(); ++i)
      threads_.emplace_back([this, i] { run(i); });
  } catch (...) {
    if (threads_.empty()) {
      for (int fd : interrupt_fds_)
        ::close(fd);
      throw;
    }
    // Fewer workers than asked for still work; the interrupt fds without one stay unused.
  }
}

pool_backend::~pool_backend() {
  // Nothing references us, so nothing can start an op concurrently with this.
  stopping_.store(true);
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    interrupt(static_cast<int>(i));
    queue_.enqueue(nullptr);
  }
  ready_.release(static_cast<std::ptrdiff_t>(threads_.size()));
  for (auto& t : threads_)
    t.join();
  // Entries behind a worker's leave signal: fail them (closes still run).
  worker_context ctx(*this, -1);
  op* o;
  while (queue_.try_dequeue(o))
    if (o) execute(*o, -1, ctx);
  for (int fd : interrupt_fds_)
    ::close(fd);
}

void pool_backend::start(op* const* ops, std::size_t count) noexcept {
  counters_.submitted.fetch_add(count, std::memory_order_relaxed);
  std::ptrdiff_t queued = 0;
  for (std::size_t i = 0; i < count; ++i) {
    ops[i]->add_ref();
    if (queue_.enqueue(ops[i])) {
      ++queued;
    } else {
      ops[i]->fail(-ENOMEM);
      finish(*ops[i]);
    }
  }
  if (queued) ready_.release(queued);
}

void pool_backend::cancel(op& o) noexcept {
  // Pairs with execute(): it publishes `worker` before it reads cancel_requested, and the
  // caller set cancel_requested before this reads `worker`, so one of them sees the other.
  if (const int w = o.worker.load(); w >= 0) interrupt(w);
}

void pool_backend::shutdown() noexcept {
  if (stopping_.exchange(true)) return;
  for (std::size_t i = 0; i < interrupt_fds_.size(); ++i)
    interrupt(static_cast<int>(i));
}

void pool_backend::interrupt(int index) noexcept {
  ::eventfd_write(interrupt_fds_[static_cast<std::size_t>(index)], 1);
}

void pool_backend::run(unsigned index) {
  worker_context ctx(*this, interrupt_fds_[index]);
  for (;;) {
    ready_.acquire();
    op* o = nullptr;
    // The count says an entry is there; the queue may show it a moment later.
    while (!queue_.try_dequeue(o))
      std::this_thread::yield();
    if (!o) return;
    execute(*o, static_cast<int>(index), ctx);
  }
}

void pool_backend::execute(op& o, int index, worker_context& ctx) noexcept {
  o.worker.store(index);
  ctx.current = &o;
  for (;;) {
    if (ctx.stop_requested()) {
      o.fail(-ECANCELED);
      break;
    }
    if (o.complete(o.perform(ctx))) break;
  }
  o.worker.store(-1);
  ctx.current = nullptr;
  finish(o);
}

}  // namespace

std::shared_ptr<backend> make_pool_backend(const io_engine_options& options) {
  return std::make_shared<pool_backend>(options.max_workers);
}

}  // namespace larder::detail::io
