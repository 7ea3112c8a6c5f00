// Requests of several system calls on one path: open, then the I/O, then close, run back to
// back by the backend (on the ring's strand, or on one pool worker) without going back to
// the caller in between. A get or a flush then costs its caller one round trip instead of
// three, and the steps of many requests share each io_uring_enter.
//
// Each is a small state machine: prepare() and perform() issue the current step, complete()
// takes its result and picks the next one. They are not cancellable: every step is bounded
// (a non-blocking open, a non-waiting read, an fsync, a close), and running to the end is
// what guarantees that the descriptor they opened is closed. A cancelled caller is still
// resumed at once; the request finishes behind it.
#pragma once

#include <linux/openat2.h>

#include <cstdint>
#include <optional>
#include <string>

#include "io/op.hpp"
#include "larder/blob.hpp"

namespace larder::detail::io {

/// How a path request opens its file: openat, or openat2 when `how` is set.
struct open_spec {
  int dirfd = -1;
  std::string path;
  int flags = 0;
  std::optional<open_how> how;
};

/// The steps of a path request, in order.
enum class path_step : std::uint8_t { open, io, close, done };

class path_op : public op {
 public:
  void prepare(io_uring_sqe& sqe) final;
  int perform(blocking_context& ctx) final;
  bool complete(int res) final;
  void abandon() noexcept final;
  bool cancellable() const noexcept final { return false; }

  /// The step whose error the request ended with (done when it succeeded).
  path_step failed_step() const noexcept { return failed_; }

 protected:
  explicit path_op(open_spec spec) : spec_(std::move(spec)) {}
  /// The I/O step on the open descriptor.
  virtual void prepare_io(io_uring_sqe& sqe, int fd) = 0;
  virtual int perform_io(int fd) = 0;
  /// Takes one result of the I/O step: true when it is finished, false to issue it again.
  /// A negative result ends it with that error (the descriptor is still closed).
  virtual bool io_complete(int res) = 0;

 private:
  void end_with(path_step step, int negative_errno) noexcept;

  open_spec spec_;
  int fd_ = -1;
  path_step step_ = path_step::open;
  path_step failed_ = path_step::done;
  int io_error_ = 0;  // kept while the close runs
};

/// Opens, reads up to `length` bytes from offset 0 without waiting (RWF_NOWAIT: bytes in the
/// page cache, else EAGAIN; EAGAIN or EOPNOTSUPP on a FIFO), closes. Short only at end of file.
class read_file_op final : public path_op {
 public:
  read_file_op(open_spec spec, std::size_t length) : path_op(std::move(spec)), buffer_(length) {}
  /// The bytes read, shrunk to what the file had.
  blob_buffer take() noexcept;

 private:
  void prepare_io(io_uring_sqe& sqe, int fd) override;
  int perform_io(int fd) override;
  bool io_complete(int res) override;

  blob_buffer buffer_;
  std::size_t done_ = 0;
};

/// Opens, fsyncs (or fdatasyncs), closes.
class sync_file_op final : public path_op {
 public:
  sync_file_op(open_spec spec, bool datasync) : path_op(std::move(spec)), datasync_(datasync) {}

 private:
  void prepare_io(io_uring_sqe& sqe, int fd) override;
  int perform_io(int fd) override;
  bool io_complete(int res) override;

  bool datasync_;
};

}  // namespace larder::detail::io
