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

#include <sys/stat.h>
#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/op.hpp"
#include "larder/blob.hpp"

namespace larder::detail::io {

/// How a path request opens its file: openat, or openat2 when `how` is set.
struct open_spec {
  int dirfd = -1;
  std::string path;
  int flags = 0;
  mode_t mode = 0;
  std::optional<open_how> how;
};

/// The steps of a path request, in order. rename runs only for a request that installs
/// what it wrote; cleanup (unlink of the file it created) only after a failure.
enum class path_step : std::uint8_t { open, io, close, rename, cleanup, done };

class path_op : public op {
 public:
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) final;
#endif
  int perform(blocking_context& ctx) final;
  bool complete(int res) final;
  void abandon() noexcept final;
  bool cancellable() const noexcept final { return false; }

  /// open, I/O, close, and rename when it installs: one chain, when the I/O fits one SQE.
  unsigned chain_length() const noexcept final;
#if LARDER_HAVE_IO_URING
  void prepare_chain(io_uring_sqe* const* sqes, int slot) final;
#endif
  bool complete_chain(unsigned position, int res) final;
  bool chain_pending() const noexcept final;
  int take_slot() noexcept final;

  /// The step whose error the request ended with (done when it succeeded).
  path_step failed_step() const noexcept { return failed_; }

 protected:
  explicit path_op(open_spec spec) : spec_(std::move(spec)) {}
  /// The I/O step on the open descriptor.
#if LARDER_HAVE_IO_URING
  virtual void prepare_io(io_uring_sqe& sqe, int fd) = 0;
#endif
  virtual int perform_io(int fd) = 0;
  /// Takes one non-negative result of the I/O step: 1 when it is finished, 0 to issue it
  /// again, or a negative errno to end it with (the descriptor is still closed). A negative
  /// result of the step itself never gets here: it ends the step with that error.
  virtual int io_complete(int res) = 0;
  /// What the I/O step returns when it does all that one SQE of it asks for.
  virtual int io_whole_result() const noexcept = 0;
  /// Whether one SQE of the I/O step does all of what is left (chains need that).
  virtual bool io_fits_one_sqe() const noexcept { return true; }
  /// Whether the I/O step is one call whose result, short or failed, ends it. Its chain then
  /// closes the file whatever the call returned (a hard link), at the cost of a second CQE;
  /// other chains stop at a failed step and leave the rest to the state machine.
  virtual bool io_is_one_shot() const noexcept { return false; }
  /// After a successful close, rename the file to `path` in the same directory (replacing
  /// it). The file must be one this request creates (O_CREAT | O_EXCL): after any failure
  /// past its open, it is unlinked again.
  void install_as(std::string path) { install_path_ = std::move(path); }

 private:
  void end_with(path_step step, int negative_errno) noexcept;
  /// The request failed at `step` after creating its file: unlink it, then end.
  void clean_up_after(path_step step, int negative_errno) noexcept;

#if LARDER_HAVE_IO_URING
  void prepare_open(io_uring_sqe& sqe);
#endif
  bool chain_over() const noexcept;

  open_spec spec_;
  std::string install_path_;
  int fd_ = -1;  // the registered-file slot itself when direct_
  int slot_ = -1;
  bool direct_ = false;   // the descriptor lives in the ring's slot_, not in our table
  bool chained_ = false;  // a chain was issued (at most one per request)
  // The chain in the kernel: its length (0 when none), and the CQEs it has posted so far.
  std::uint8_t chain_length_ = 0;
  std::uint8_t chain_seen_ = 0;  // bit per position
  int chain_results_[max_chain_length] = {};
  open_how direct_how_{};  // for a direct open: no O_CLOEXEC (the ring's table has none)
  path_step step_ = path_step::open;
  path_step failed_ = path_step::done;
  path_step pending_step_ = path_step::done;  // the failure a cleanup is running for
  int pending_error_ = 0;
  int io_error_ = 0;  // kept while the close runs
};

/// Opens, reads up to `length` bytes from offset 0 in one call that does not wait (RWF_NOWAIT:
/// bytes in the page cache, else EAGAIN; EAGAIN or EOPNOTSUPP on a FIFO), closes. Short at end
/// of file, or where the page cache stops. (A read of more than 1 GiB goes on in 1 GiB calls.)
class read_file_op final : public path_op {
 public:
  read_file_op(open_spec spec, std::size_t length) : path_op(std::move(spec)), buffer_(length) {}
  /// The bytes read, shrunk to what the file had.
  blob_buffer take() noexcept;

 private:
#if LARDER_HAVE_IO_URING
  void prepare_io(io_uring_sqe& sqe, int fd) override;
#endif
  int perform_io(int fd) override;
  int io_complete(int res) override;
  int io_whole_result() const noexcept override;
  bool io_fits_one_sqe() const noexcept override;
  bool io_is_one_shot() const noexcept override { return true; }

  blob_buffer buffer_;
  std::size_t done_ = 0;
};

/// Creates a file (O_CREAT | O_EXCL in `spec.flags`), writes `parts` back to back from
/// offset 0 (the rest again after a short write), closes it and renames it over
/// `install_path`; after any failure past the create, the file is unlinked again.
class write_file_op final : public path_op {
 public:
  write_file_op(open_spec spec, std::string install_path, std::vector<blob> parts);

 private:
#if LARDER_HAVE_IO_URING
  void prepare_io(io_uring_sqe& sqe, int fd) override;
#endif
  int perform_io(int fd) override;
  int io_complete(int res) override;
  int io_whole_result() const noexcept override;
  bool io_fits_one_sqe() const noexcept override;
  unsigned batch_count() const noexcept;

  std::vector<blob> parts_;
  std::vector<iovec> iov_;
  std::size_t first_ = 0;
  std::size_t done_ = 0;
  std::size_t total_ = 0;
};

/// Opens, fsyncs (or fdatasyncs), closes.
class sync_file_op final : public path_op {
 public:
  sync_file_op(open_spec spec, bool datasync) : path_op(std::move(spec)), datasync_(datasync) {}

 private:
#if LARDER_HAVE_IO_URING
  void prepare_io(io_uring_sqe& sqe, int fd) override;
#endif
  int perform_io(int fd) override;
  int io_complete(int res) override;
  int io_whole_result() const noexcept override { return 0; }

  bool datasync_;
};

}  // namespace larder::detail::io
