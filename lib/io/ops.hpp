// The concrete requests. Each owns its inputs and its output until it is released.
#pragma once

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/op.hpp"
#include "larder/blob.hpp"

namespace larder::detail::io {

/// openat, or openat2 when `how` is set. The product is an fd.
class open_op final : public op {
 public:
  open_op(int dirfd, std::string path, int flags, mode_t mode, std::optional<open_how> how)
      : dirfd_(dirfd), path_(std::move(path)), flags_(flags), mode_(mode), how_(how) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;
  bool complete(int res) override;
  void abandon() noexcept override;
  int fd() const noexcept { return fd_; }

 private:
  int dirfd_;
  std::string path_;
  int flags_;
  mode_t mode_;
  std::optional<open_how> how_;
  int fd_ = -1;
};

/// Positioned transfers share the resubmission logic: after EAGAIN the next step is a poll
/// for readiness (a non-blocking fd would otherwise spin), after a short transfer the rest.
class transfer_op : public op {
 public:
  static constexpr std::uint64_t current_position = ~std::uint64_t{0};
  bool complete(int res) override;
  std::size_t done() const noexcept { return done_; }

 protected:
  transfer_op(int fd, std::uint64_t offset, short poll_events, bool nowait = false) noexcept
      : fd_(fd), offset_(offset), poll_events_(poll_events), nowait_(nowait) {}
  std::uint64_t offset_now() const noexcept {
    return offset_ == current_position ? offset_ : offset_ + done_;
  }
  /// Bytes still to move; the transfer is finished at 0.
  virtual std::size_t remaining() const noexcept = 0;
  /// `n` more bytes moved.
  virtual void advance(std::size_t n) noexcept = 0;
  /// A result of 0 with bytes remaining: end of file for a read, an error for a write.
  virtual bool zero_is_end() const noexcept = 0;
  bool nowait() const noexcept { return nowait_; }
  /// True (and prepares a poll) when the previous attempt said EAGAIN.
#if LARDER_HAVE_IO_URING
  bool prepare_poll(io_uring_sqe& sqe) noexcept;
#endif

  int fd_;
  std::uint64_t offset_;
  std::size_t done_ = 0;

 private:
  short poll_events_;
  bool nowait_;  // RWF_NOWAIT: EAGAIN is the result, not a reason to poll
  bool poll_next_ = false;
  bool polling_ = false;
};

class read_op final : public transfer_op {
 public:
  read_op(int fd, std::size_t length, std::uint64_t offset, bool nowait = false);
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;
  /// The bytes read, shrunk to what the file had.
  blob_buffer take() noexcept;

 private:
  std::size_t remaining() const noexcept override { return buffer_.size() - done_; }
  void advance(std::size_t n) noexcept override { done_ += n; }
  bool zero_is_end() const noexcept override { return true; }
  blob_buffer buffer_;
};

class write_op final : public transfer_op {
 public:
  write_op(int fd, blob data, std::uint64_t offset) noexcept
      : transfer_op(fd, offset, POLLOUT), data_(std::move(data)) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;

 private:
  std::size_t remaining() const noexcept override { return data_.size() - done_; }
  void advance(std::size_t n) noexcept override { done_ += n; }
  bool zero_is_end() const noexcept override { return false; }
  blob data_;
};

/// Moves past `n` bytes written from iov[first] on: whole iovecs are skipped (`first`
/// advances), a partly written one is trimmed to its rest.
void consume_iovecs(std::vector<iovec>& iov, std::size_t& first, std::size_t n) noexcept;
/// How many iovecs from `first` on one writev may take (IOV_MAX at most).
unsigned iovec_batch(const std::vector<iovec>& iov, std::size_t first) noexcept;

/// The iovecs live here, next to the blobs that keep their bytes alive; a short write moves
/// the first unfinished iovec forward.
class writev_op final : public transfer_op {
 public:
  writev_op(int fd, std::vector<blob> parts, std::uint64_t offset);
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;

 private:
  std::size_t remaining() const noexcept override { return total_ - done_; }
  void advance(std::size_t n) noexcept override;
  bool zero_is_end() const noexcept override { return false; }
  unsigned batch_count() const noexcept;
  std::vector<blob> parts_;
  std::vector<iovec> iov_;
  std::size_t first_ = 0;
  std::size_t total_ = 0;
};

class close_op final : public op {
 public:
  explicit close_op(int fd) noexcept : fd_(fd) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;
  bool complete(int res) override;
  bool cancellable() const noexcept override { return false; }

 private:
  int fd_;
};

class fsync_op final : public op {
 public:
  fsync_op(int fd, bool datasync) noexcept : fd_(fd), datasync_(datasync) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;

 private:
  int fd_;
  bool datasync_;
};

class rename_op final : public op {
 public:
  rename_op(int olddirfd, std::string oldpath, int newdirfd, std::string newpath, unsigned flags)
      : olddirfd_(olddirfd),
        newdirfd_(newdirfd),
        flags_(flags),
        oldpath_(std::move(oldpath)),
        newpath_(std::move(newpath)) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;

 private:
  int olddirfd_, newdirfd_;
  unsigned flags_;
  std::string oldpath_, newpath_;
};

class unlink_op final : public op {
 public:
  unlink_op(int dirfd, std::string path, int flags)
      : dirfd_(dirfd), flags_(flags), path_(std::move(path)) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;

 private:
  int dirfd_, flags_;
  std::string path_;
};

class mkdir_op final : public op {
 public:
  mkdir_op(int dirfd, std::string path, mode_t mode)
      : dirfd_(dirfd), mode_(mode), path_(std::move(path)) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;

 private:
  int dirfd_;
  mode_t mode_;
  std::string path_;
};

class statx_op final : public op {
 public:
  statx_op(int dirfd, std::string path, int flags, unsigned mask)
      : dirfd_(dirfd), flags_(flags), mask_(mask), path_(std::move(path)) {}
#if LARDER_HAVE_IO_URING
  void prepare(io_uring_sqe& sqe) override;
#endif
  int perform(blocking_context& ctx) override;
  const struct statx& result() const noexcept { return stx_; }

 private:
  int dirfd_, flags_;
  unsigned mask_;
  std::string path_;
  struct statx stx_ {};
};

}  // namespace larder::detail::io
