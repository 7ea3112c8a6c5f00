// io_engine: asynchronous file system calls for the disk store, on io_uring or a thread pool.
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "larder/blob.hpp"
#include "larder/result.hpp"

namespace larder {

namespace detail::io {
class backend;
}

/// Which machinery performs the system calls.
enum class io_backend {
  automatic,    ///< io_uring when it can be set up, else thread_pool
  io_uring,     ///< our own ring, wired into the io_context through an eventfd
  thread_pool,  ///< blocking calls on a few worker threads, never on the caller's executor
};

struct io_engine_options {
  /// `automatic` consults the environment variable LARDER_IO_BACKEND (`io_uring` or
  /// `thread_pool`) first; an explicit choice here ignores the environment.
  io_backend backend = io_backend::automatic;
  unsigned queue_depth = 256;           ///< io_uring submission queue entries
  unsigned completion_queue_depth = 0;  ///< 0: four times queue_depth
  /// Bounds the kernel's io-wq workers (bounded and unbounded, each) for io_uring, and is
  /// the number of worker threads of the thread pool. Syncs wait on the device, not the
  /// CPU: 16 of them side by side let the journal commit many per transaction (a flush of
  /// 2,000 files took 0.36 of the blocking design's time with 16, 0.76 with 4).
  unsigned max_workers = 16;
};

/// Counters since the engine was created. Monotonic, exact totals. Only ops_completed orders:
/// once it reads N, the system calls of those N operations have returned.
struct io_engine_metrics {
  std::string_view backend;         ///< "io_uring" or "thread_pool"
  std::error_code io_uring_error;   ///< why io_uring was not used (empty when it is, or forced off)
  std::uint64_t ops_submitted = 0;  ///< operations accepted (a batch counts each of its ops)
  std::uint64_t ops_completed = 0;  ///< operations whose final result arrived
  std::uint64_t submit_calls = 0;   ///< io_uring_enter calls that submitted (0 for thread_pool)
  std::uint64_t cq_overflows = 0;   ///< times the completion queue had overflowed
  std::uint64_t cancellations = 0;  ///< callers that were cancelled while waiting
  std::uint64_t errors = 0;         ///< operations that ended in an error other than cancelled
  /// Path requests (read_file_nowait, write_file, sync_files) that went into the ring as one
  /// chain of linked requests (io_uring on Linux 5.19 and later; 0 for thread_pool).
  std::uint64_t linked_chains = 0;
};

/// The steps of a request on a path (open, then its I/O, then close), to say which one failed.
enum class file_step : std::uint8_t {
  none,    ///< no step failed
  open,    ///< the open (or the request as a whole: cancelled, shut down)
  io,      ///< the read, write or sync; the descriptor was still closed
  close,   ///< the close
  rename,  ///< write_file's rename over the final path
};

/// How a request on a path ended: `error` is that of step `failed`.
struct file_status {
  file_step failed = file_step::none;
  std::error_code error;
};

/// What read_file_nowait produced: the bytes when `status.error` is empty.
struct file_read {
  file_status status;
  blob_buffer bytes;
};

/// Asynchronous openat, read, write, close, fsync, renameat, unlinkat, mkdirat and statx.
///
/// Completion: every operation returns an asio::awaitable that starts when awaited and
/// resumes the caller on the caller's own executor (never inline on the ring's strand or on a
/// worker); no blocking file system call runs on that executor. Errors are values: errno in
/// std::system_category(), or errc::cancelled / errc::shut_down; nothing throws for an I/O
/// fault. Safe to use from coroutines on several threads at once.
///
/// Lifetimes: arguments are taken when the operation is called. Its state is heap-allocated
/// and owns its inputs (paths copied into std::string, write bytes held by blobs, the read
/// buffer allocated by the engine) until the kernel or the worker is done with them, which may
/// be after the caller has gone. The engine itself is referenced weakly: if it is destroyed
/// before the co_await, the operation completes with errc::shut_down.
///
/// Cancellation: terminal cancellation through the caller's cancellation slot (for example
/// `co_await (op || timer)`) resumes the caller at once with errc::cancelled and asks the
/// backend to stop the request: IORING_OP_ASYNC_CANCEL, or waking the worker out of its wait
/// on a pipe or socket (a regular-file system call on a worker runs to its end). Best effort:
/// a cancelled write or rename may still have happened. The state is freed when the final
/// result arrives; an fd that a cancelled open still produced is closed by the engine.
///
/// Shutdown: the engine must be destroyed before its io_context. Destroying it, or
/// shutdown(), never waits on the io_context: running requests are cancelled and their callers
/// complete with errc::shut_down (or their result, if it came first); later ones complete with
/// errc::shut_down. The ring stays open until its last completion is reaped on the io_context;
/// if the io_context is destroyed first, the teardown waits for the kernel to release every
/// buffer before freeing anything, and callers still waiting are destroyed without resuming,
/// as Asio does with its own operations. Releasing a thread pool joins its workers.
class io_engine {
 public:
  /// Sets up the backend chosen by `options`. Throws std::system_error only when io_uring
  /// was demanded (option or environment) and cannot be set up.
  static std::shared_ptr<io_engine> create(asio::io_context& io, io_engine_options options = {});

  ~io_engine();
  io_engine(const io_engine&) = delete;
  io_engine& operator=(const io_engine&) = delete;

  io_backend backend() const noexcept { return kind_; }
  io_engine_metrics metrics() const noexcept;

  /// Cancels what is running and refuses new work (errc::shut_down). Idempotent, non-blocking.
  void shutdown() noexcept;

  /// openat(2). Completes with the new fd, which the caller then owns. Flags are used as
  /// given: pass O_CLOEXEC. Cancelled: the fd, if one was still opened, is closed for you.
  asio::awaitable<result<int>> openat(int dirfd, std::string path, int flags, mode_t mode = 0);

  /// openat2(2): openat constrained by `resolve` (RESOLVE_*). The default keeps resolution
  /// beneath dirfd and refuses every symlink (EXDEV, ELOOP), so a path cannot leave its root.
  /// Completion, cancellation and lifetimes as openat.
  asio::awaitable<result<int>> openat2(int dirfd, std::string path, int flags, mode_t mode = 0,
                                       std::uint64_t resolve = RESOLVE_BENEATH |
                                                               RESOLVE_NO_SYMLINKS);

  /// Reads `length` bytes at `offset` into a buffer the engine allocates and hands over on
  /// completion, resubmitting the rest after short reads: the buffer is shorter only at end of
  /// file. Pipes and sockets ignore the offset. Cancelled: the buffer stays with the request
  /// until the kernel lets go of it, then is freed.
  asio::awaitable<result<blob_buffer>> read(int fd, std::size_t length, std::uint64_t offset);

  /// read() that never waits (RWF_NOWAIT): it completes with bytes already in the page
  /// cache, or fails with EAGAIN where read() would wait for the device, and with EAGAIN or
  /// EOPNOTSUPP (kernel-dependent) on a FIFO or socket. On io_uring a cached read completes inline,
  /// without a kernel worker. Completion, cancellation and lifetimes as read().
  asio::awaitable<result<blob_buffer>> read_nowait(int fd, std::size_t length,
                                                   std::uint64_t offset);

  /// Writes all of `data` at `offset`, resubmitting the rest after short writes. Completes with
  /// data.size(), or an error after which a prefix may have been written. `data` is kept alive
  /// by the request, not the caller. Cancelled: some or all of it may still be written.
  asio::awaitable<result<std::size_t>> write(int fd, blob data, std::uint64_t offset);

  /// write() for parts back to back from `offset`, with writev; the iovecs and the blobs live
  /// in the request. Completes with the total size. Cancellation as write().
  asio::awaitable<result<std::size_t>> writev(int fd, std::vector<blob> parts,
                                              std::uint64_t offset);

  /// close(2). Runs even when the caller is cancelled (or the engine shuts down), so that the
  /// fd is never leaked; an EINTR from close counts as success, as Linux released the fd.
  asio::awaitable<std::error_code> close(int fd);

  /// fsync(2), or fdatasync(2) when `datasync`; covers writes that completed before it began.
  /// Cancelled: the sync may still happen; nothing is known of durability.
  asio::awaitable<std::error_code> fsync(int fd, bool datasync);

  /// fsync (or fdatasync) every fd, submitted together (one io_uring_enter), completing when
  /// all are done: one error_code per fd, in order. `fds` is read during the call only.
  /// Cancelled: every entry is errc::cancelled, whatever the syncs did.
  asio::awaitable<std::vector<std::error_code>> fsync_all(std::span<const int> fds, bool datasync);

  /// Opens `path` (openat2 with `resolve` as openat2(); 0: plain openat, for kernels
  /// without openat2), reads up to `length` bytes from offset 0 in one call that does not
  /// wait, as read_nowait() does, and closes it: one request, so the caller waits for one
  /// completion, not three (on io_uring, one chain of linked requests). Short at end of file
  /// or where the page cache stops. `status.failed` tells a missing file (open, ENOENT) from
  /// bytes not in the page cache (io, EAGAIN). Cancelled: the caller resumes at once with
  /// errc::cancelled; the request still runs to its close (each step is non-blocking).
  asio::awaitable<file_read> read_file_nowait(int dirfd, std::string path, int flags,
                                              std::size_t length,
                                              std::uint64_t resolve = RESOLVE_BENEATH |
                                                                      RESOLVE_NO_SYMLINKS);
  /// Creates `temp` (openat with `flags`, which must hold O_CREAT | O_EXCL, and `mode`),
  /// writes `parts` back to back from offset 0 (writev; the rest again after a short write),
  /// closes it and renames it over `path` (same `dirfd`): one request. After a failure past
  /// the create, `temp` is unlinked before completion, and `path` is untouched. The request
  /// holds `parts` (and their bytes) until it ends. Cancelled: the caller resumes at once with
  /// errc::cancelled; the request still runs to its end, so `path` may still be replaced.
  asio::awaitable<file_status> write_file(int dirfd, std::string temp, std::string path,
                                          std::vector<blob> parts, int flags, mode_t mode);
  /// For every path: open (openat with `flags`), fsync or fdatasync, close; all started
  /// together, completing when all are done, with one status per path in order. The steps
  /// of the requests share io_uring_enter calls, and the syncs run side by side on the
  /// kernel's workers. Cancelled: every status is errc::cancelled; the syncs still happen.
  asio::awaitable<std::vector<file_status>> sync_files(int dirfd, std::vector<std::string> paths,
                                                       int flags, bool datasync);
  /// renameat2(2): `flags` are RENAME_* (0 replaces newpath atomically). Cancelled: the rename
  /// may still have happened.
  asio::awaitable<std::error_code> renameat(int olddirfd, std::string oldpath, int newdirfd,
                                            std::string newpath, unsigned flags = 0);

  /// unlinkat(2); AT_REMOVEDIR removes an empty directory. Cancelled: it may still happen.
  asio::awaitable<std::error_code> unlinkat(int dirfd, std::string path, int flags = 0);

  /// mkdirat(2). Cancelled: the directory may still be made.
  asio::awaitable<std::error_code> mkdirat(int dirfd, std::string path, mode_t mode);

  /// statx(2) with AT_* `flags` and STATX_* `mask`; the result is copied out on completion.
  asio::awaitable<result<struct statx>> statx(int dirfd, std::string path, int flags,
                                              unsigned mask);

 private:
  io_engine(std::shared_ptr<detail::io::backend> impl, io_backend kind);

  // Operations hold it weakly: a caller suspended in an operation does not keep it alive.
  std::shared_ptr<detail::io::backend> impl_;
  io_backend kind_;
  std::error_code io_uring_error_;
};

}  // namespace larder
