// io_engine: backend selection, and the glue between ops and the awaiting coroutines.
#include "larder/io_engine.hpp"

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "io/backends.hpp"
#include "io/file_ops.hpp"
#include "io/ops.hpp"

namespace larder {
namespace io = detail::io;

namespace {

// What a batch completes with. Not a bare std::error_code: use_awaitable would turn that into
// an exception, and faults here are values.
struct batch_status {
  std::error_code ec;
};

// The caller's side of a batch: its completion handler, and work on its executor so that
// the executor's run() does not return while the request is out (the thread pool holds none).
template <class Handler>
class handler_batch final : public io::batch {
 public:
  handler_batch(Handler handler, std::weak_ptr<io::backend> engine, io::op* const* ops,
                std::size_t count)
      : batch(std::move(engine), ops, count),
        handler_(std::move(handler)),
        work_(asio::prefer(asio::get_associated_executor(handler_),
                           asio::execution::outstanding_work.tracked)) {}

 private:
  // Runs the handler on its executor later; if it never runs (the io_context is destroyed
  // first), it still breaks the handler -> cancellation slot -> batch reference cycle.
  struct invoker {
    io::ref_ptr<handler_batch> self;
    std::error_code ec;
    invoker(io::ref_ptr<handler_batch> s, std::error_code e) noexcept : self(std::move(s)), ec(e) {}
    invoker(invoker&&) noexcept = default;
    ~invoker() {
      if (self) self->drop();
    }
    void operator()() {
      auto b = std::move(self);
      b->invoke(ec);
    }
  };

  void deliver(std::error_code ec) noexcept override {
    // Never resume the caller inline: this runs on the ring's strand, a pool worker, or
    // inside the caller's own cancellation signal.
    auto ex = work_;
    asio::post(ex, invoker(io::ref_ptr<handler_batch>::share(this), ec));
  }

  void drop() noexcept override {
    asio::get_associated_cancellation_slot(handler_).clear();
    Handler gone(std::move(handler_));
    work_ = {};
  }

  void invoke(std::error_code ec) {
    asio::get_associated_cancellation_slot(handler_).clear();
    Handler h(std::move(handler_));
    work_ = {};
    std::move(h)(batch_status{ec});
  }

  Handler handler_;
  std::decay_t<decltype(asio::prefer(asio::get_associated_executor(std::declval<Handler&>()),
                                     asio::execution::outstanding_work.tracked))>
      work_;
};

// The cancellation slot's handler. It holds the batch, which outlives every op's delivery.
struct cancel_hook {
  io::ref_ptr<io::batch> target;
  void operator()(asio::cancellation_type type) const {
    if ((type & asio::cancellation_type::terminal) != asio::cancellation_type::none)
      target->cancel();
  }
};

struct start_batch {
  std::weak_ptr<io::backend> engine;
  io::op* const* ops;
  std::size_t count;

  template <class Handler>
  void operator()(Handler&& handler) const {
    using batch_type = handler_batch<std::decay_t<Handler>>;
    auto slot = asio::get_associated_cancellation_slot(handler);
    io::ref_ptr<io::batch> b(new batch_type(std::forward<Handler>(handler), engine, ops, count));
    for (std::size_t i = 0; i < count; ++i) {
      b->add_ref();
      ops[i]->owner = b.get();
    }
    // Installed before the ops start, so a completion can never race ahead of it.
    if (slot.is_connected()) slot.template emplace<cancel_hook>(cancel_hook{b});
    auto backend = engine.lock();
    if (backend && !backend->stopping()) {
      backend->start(ops, count);
      return;
    }
    for (std::size_t i = 0; i < count; ++i)
      std::exchange(ops[i]->owner, nullptr)->release();
    b->complete_now(make_error_code(errc::shut_down));
  }
};

// Starts the ops together and completes when all have finished, or on cancellation. The ops
// must live in the caller's frame (they do: every caller below awaits this at once).
asio::awaitable<batch_status> run_ops(std::weak_ptr<io::backend> engine, io::op* const* ops,
                                      std::size_t count) {
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(batch_status)>(
      start_batch{std::move(engine), ops, count}, asio::use_awaitable);
}

template <class Op, class... Args>
io::ref_ptr<Op> make(Args&&... args) {
  return io::ref_ptr<Op>(new Op(std::forward<Args>(args)...));
}

// One op: the batch's own error (cancelled, shut_down) first, then the op's.
template <class Op>
asio::awaitable<std::error_code> run_one(std::weak_ptr<io::backend> engine, Op& op) {
  io::op* raw = &op;
  const batch_status status = co_await run_ops(std::move(engine), &raw, 1);
  if (status.ec) co_return status.ec;
  co_return op.error();
}

asio::awaitable<result<int>> do_open(std::weak_ptr<io::backend> engine,
                                     io::ref_ptr<io::open_op> op) {
  const std::error_code ec = co_await run_one(std::move(engine), *op);
  if (ec) co_return ec;
  co_return op->fd();
}

asio::awaitable<std::error_code> do_simple(std::weak_ptr<io::backend> engine,
                                           io::ref_ptr<io::op> op) {
  const std::error_code ec = co_await run_one(std::move(engine), *op);
  co_return ec;
}

io_backend backend_from_environment() {
  const char* value = std::getenv("LARDER_IO_BACKEND");
  if (!value) return io_backend::automatic;
  const std::string_view v(value);
  if (v == "io_uring") return io_backend::io_uring;
  if (v == "thread_pool") return io_backend::thread_pool;
  return io_backend::automatic;
}

}  // namespace

std::shared_ptr<io_engine> io_engine::create(asio::io_context& io, io_engine_options options) {
  if (options.backend == io_backend::automatic) options.backend = backend_from_environment();
  std::error_code why;
  if (options.backend != io_backend::thread_pool) {
    if (auto ring = io::make_uring_backend(io, options, why))
      return std::shared_ptr<io_engine>(new io_engine(std::move(ring), io_backend::io_uring));
    if (options.backend == io_backend::io_uring)
      throw std::system_error(why, LARDER_HAVE_IO_URING
                                       ? "larder: io_uring backend unavailable"
                                       : "larder: io_uring backend unavailable (this larder was "
                                         "built with -Dio_uring=disabled)");
  }
  auto engine = std::shared_ptr<io_engine>(
      new io_engine(io::make_pool_backend(options), io_backend::thread_pool));
  engine->io_uring_error_ = why;
  return engine;
}

io_engine::io_engine(std::shared_ptr<detail::io::backend> impl, io_backend kind)
    : impl_(std::move(impl)), kind_(kind) {}

io_engine::~io_engine() {
  shutdown();
}

void io_engine::shutdown() noexcept {
  impl_->shutdown();
}

io_engine_metrics io_engine::metrics() const noexcept {
  const auto& c = impl_->counters();
  io_engine_metrics m;
  m.backend = kind_ == io_backend::io_uring ? "io_uring" : "thread_pool";
  m.io_uring_error = io_uring_error_;
  m.ops_submitted = c.submitted.load(std::memory_order_relaxed);
  m.ops_completed = c.completed.load(std::memory_order_acquire);
  m.submit_calls = c.submit_calls.load(std::memory_order_relaxed);
  m.cq_overflows = c.cq_overflows.load(std::memory_order_relaxed);
  m.cancellations = c.cancellations.load(std::memory_order_relaxed);
  m.errors = c.errors.load(std::memory_order_relaxed);
  m.linked_chains = c.chains.load(std::memory_order_relaxed);
  return m;
}

asio::awaitable<result<int>> io_engine::openat(int dirfd, std::string path, int flags,
                                               mode_t mode) {
  return do_open(impl_, make<io::open_op>(dirfd, std::move(path), flags, mode, std::nullopt));
}

asio::awaitable<result<int>> io_engine::openat2(int dirfd, std::string path, int flags, mode_t mode,
                                                std::uint64_t resolve) {
  open_how how{};
  how.flags = static_cast<std::uint64_t>(flags);
  // openat2 refuses a mode unless the call can create a file.
  const bool creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  how.mode = creates ? mode : 0;
  how.resolve = resolve;
  return do_open(impl_, make<io::open_op>(dirfd, std::move(path), flags, mode, how));
}

asio::awaitable<result<blob_buffer>> io_engine::read(int fd, std::size_t length,
                                                     std::uint64_t offset) {
  return [](std::weak_ptr<io::backend> engine, int fd, std::size_t length,
            std::uint64_t offset) -> asio::awaitable<result<blob_buffer>> {
    auto op = make<io::read_op>(fd, length, offset);
    const std::error_code ec = co_await run_one(std::move(engine), *op);
    if (ec) co_return ec;
    co_return op->take();
  }(impl_, fd, length, offset);
}

asio::awaitable<result<blob_buffer>> io_engine::read_nowait(int fd, std::size_t length,
                                                            std::uint64_t offset) {
  return [](std::weak_ptr<io::backend> engine, int fd, std::size_t length,
            std::uint64_t offset) -> asio::awaitable<result<blob_buffer>> {
    auto op = make<io::read_op>(fd, length, offset, /*nowait=*/true);
    const std::error_code ec = co_await run_one(std::move(engine), *op);
    if (ec) co_return ec;
    co_return op->take();
  }(impl_, fd, length, offset);
}

namespace {
template <class Op>
asio::awaitable<result<std::size_t>> do_transfer(std::weak_ptr<io::backend> engine,
                                                 io::ref_ptr<Op> op) {
  const std::error_code ec = co_await run_one(std::move(engine), *op);
  if (ec) co_return ec;
  co_return op->done();
}
}  // namespace

asio::awaitable<result<std::size_t>> io_engine::write(int fd, blob data, std::uint64_t offset) {
  return do_transfer(impl_, make<io::write_op>(fd, std::move(data), offset));
}

asio::awaitable<result<std::size_t>> io_engine::writev(int fd, std::vector<blob> parts,
                                                       std::uint64_t offset) {
  return do_transfer(impl_, make<io::writev_op>(fd, std::move(parts), offset));
}

asio::awaitable<std::error_code> io_engine::close(int fd) {
  return do_simple(impl_, make<io::close_op>(fd));
}

asio::awaitable<std::error_code> io_engine::fsync(int fd, bool datasync) {
  return do_simple(impl_, make<io::fsync_op>(fd, datasync));
}

asio::awaitable<std::vector<std::error_code>> io_engine::fsync_all(std::span<const int> fds,
                                                                   bool datasync) {
  // The ops are made now, so the span need not outlive this call.
  std::vector<io::ref_ptr<io::op>> ops;
  ops.reserve(fds.size());
  for (int fd : fds)
    ops.push_back(make<io::fsync_op>(fd, datasync));
  return [](std::weak_ptr<io::backend> engine,
            std::vector<io::ref_ptr<io::op>> ops) -> asio::awaitable<std::vector<std::error_code>> {
    std::vector<io::op*> raw;
    raw.reserve(ops.size());
    for (auto& op : ops)
      raw.push_back(op.get());
    std::vector<std::error_code> out(ops.size());
    if (ops.empty()) co_return out;
    const batch_status status = co_await run_ops(std::move(engine), raw.data(), raw.size());
    for (std::size_t i = 0; i < ops.size(); ++i)
      out[i] = status.ec ? status.ec : ops[i]->error();
    co_return out;
  }(impl_, std::move(ops));
}

namespace {
io::open_spec spec_of(int dirfd, std::string path, int flags, std::uint64_t resolve,
                      mode_t mode = 0) {
  io::open_spec spec{dirfd, std::move(path), flags, mode, std::nullopt};
  if (resolve != 0) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags);
    how.resolve = resolve;
    spec.how = how;
  }
  return spec;
}

file_step public_step(io::path_step step) {
  switch (step) {
    case io::path_step::open:
      return file_step::open;
    case io::path_step::io:
      return file_step::io;
    case io::path_step::close:
      return file_step::close;
    case io::path_step::rename:
      return file_step::rename;
    case io::path_step::cleanup:
    case io::path_step::done:
      break;
  }
  return file_step::none;
}

file_status status_of(const batch_status& status, const io::path_op& op) {
  if (status.ec) return {file_step::open, status.ec};
  if (!op.error()) return {};
  return {public_step(op.failed_step()), op.error()};
}
}  // namespace

asio::awaitable<file_read> io_engine::read_file_nowait(int dirfd, std::string path, int flags,
                                                       std::size_t length, std::uint64_t resolve) {
  return [](std::weak_ptr<io::backend> engine,
            io::ref_ptr<io::read_file_op> op) -> asio::awaitable<file_read> {
    io::op* raw = op.get();
    const batch_status status = co_await run_ops(std::move(engine), &raw, 1);
    file_read out;
    out.status = status_of(status, *op);
    if (!out.status.error) out.bytes = op->take();
    co_return out;
  }(impl_, make<io::read_file_op>(spec_of(dirfd, std::move(path), flags, resolve), length));
}

asio::awaitable<file_status> io_engine::write_file(int dirfd, std::string temp, std::string path,
                                                   std::vector<blob> parts, int flags,
                                                   mode_t mode) {
  return [](std::weak_ptr<io::backend> engine,
            io::ref_ptr<io::write_file_op> op) -> asio::awaitable<file_status> {
    io::op* raw = op.get();
    const batch_status status = co_await run_ops(std::move(engine), &raw, 1);
    co_return status_of(status, *op);
  }(impl_, make<io::write_file_op>(spec_of(dirfd, std::move(temp), flags, 0, mode), std::move(path),
                                   std::move(parts)));
}

asio::awaitable<std::vector<file_status>> io_engine::sync_files(int dirfd,
                                                                std::vector<std::string> paths,
                                                                int flags, bool datasync) {
  std::vector<io::ref_ptr<io::sync_file_op>> ops;
  ops.reserve(paths.size());
  for (auto& path : paths)
    ops.push_back(make<io::sync_file_op>(spec_of(dirfd, std::move(path), flags, 0), datasync));
  return [](std::weak_ptr<io::backend> engine, std::vector<io::ref_ptr<io::sync_file_op>> ops)
             -> asio::awaitable<std::vector<file_status>> {
    std::vector<file_status> out(ops.size());
    if (ops.empty()) co_return out;
    std::vector<io::op*> raw;
    raw.reserve(ops.size());
    for (auto& op : ops)
      raw.push_back(op.get());
    const batch_status status = co_await run_ops(std::move(engine), raw.data(), raw.size());
    for (std::size_t i = 0; i < ops.size(); ++i)
      out[i] = status_of(status, *ops[i]);
    co_return out;
  }(impl_, std::move(ops));
}

asio::awaitable<std::error_code> io_engine::renameat(int olddirfd, std::string oldpath,
                                                     int newdirfd, std::string newpath,
                                                     unsigned flags) {
  return do_simple(impl_, make<io::rename_op>(olddirfd, std::move(oldpath), newdirfd,
                                              std::move(newpath), flags));
}

asio::awaitable<std::error_code> io_engine::unlinkat(int dirfd, std::string path, int flags) {
  return do_simple(impl_, make<io::unlink_op>(dirfd, std::move(path), flags));
}

asio::awaitable<std::error_code> io_engine::mkdirat(int dirfd, std::string path, mode_t mode) {
  return do_simple(impl_, make<io::mkdir_op>(dirfd, std::move(path), mode));
}

asio::awaitable<result<struct statx>> io_engine::statx(int dirfd, std::string path, int flags,
                                                       unsigned mask) {
  return [](std::weak_ptr<io::backend> engine,
            io::ref_ptr<io::statx_op> op) -> asio::awaitable<result<struct statx>> {
    const std::error_code ec = co_await run_one(std::move(engine), *op);
    if (ec) co_return ec;
    co_return op->result();
  }
  (impl_, make<io::statx_op>(dirfd, std::move(path), flags, mask));
}

}  // namespace larder

#if defined(__SANITIZE_THREAD__)
// moodycamel's queue orders its slots with std::atomic_thread_fence, which GCC's
// ThreadSanitizer does not model (GCC warns -Wtsan): slot reuse is reported as a race inside
// the queue. Suppress exactly those frames; weak, so a program's own list takes precedence.
extern "C" __attribute__((weak)) const char* __tsan_default_suppressions() {
  return "race:moodycamel::ConcurrentQueue\n";
}
#endif
