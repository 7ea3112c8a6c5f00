// How each request is issued on io_uring: the SQEs of every op of ops.hpp and file_ops.hpp,
// apart from their portable logic (completion, resubmission, the blocking path), so that a
// build without liburing (-Dio_uring=disabled) keeps the ops and the thread-pool backend.
#include <fcntl.h>
#include <linux/fs.h>

#include <algorithm>

#include "io/file_ops.hpp"
#include "io/ops.hpp"

namespace larder::detail::io {

// The base op cannot chain (chain_length() is 0), so nothing asks it to.
void op::prepare_chain(io_uring_sqe* const*, int) {}

// --- ops.hpp ---

void open_op::prepare(io_uring_sqe& sqe) {
  if (how_)
    io_uring_prep_openat2(&sqe, dirfd_, path_.c_str(), &*how_);
  else
    io_uring_prep_openat(&sqe, dirfd_, path_.c_str(), flags_, mode_);
}

bool transfer_op::prepare_poll(io_uring_sqe& sqe) noexcept {
  if (!poll_next_) return false;
  poll_next_ = false;
  polling_ = true;
  io_uring_prep_poll_add(&sqe, fd_, static_cast<unsigned>(poll_events_));
  return true;
}

void read_op::prepare(io_uring_sqe& sqe) {
  if (prepare_poll(sqe)) return;
  io_uring_prep_read(&sqe, fd_, buffer_.data() + done_,
                     static_cast<unsigned>(std::min(remaining(), max_chunk)), offset_now());
  if (nowait()) sqe.rw_flags = RWF_NOWAIT;
}

void write_op::prepare(io_uring_sqe& sqe) {
  if (prepare_poll(sqe)) return;
  io_uring_prep_write(&sqe, fd_, data_.data() + done_,
                      static_cast<unsigned>(std::min(remaining(), max_chunk)), offset_now());
}

void writev_op::prepare(io_uring_sqe& sqe) {
  if (prepare_poll(sqe)) return;
  io_uring_prep_writev(&sqe, fd_, iov_.data() + first_, batch_count(), offset_now());
}

void close_op::prepare(io_uring_sqe& sqe) {
  io_uring_prep_close(&sqe, fd_);
}

void fsync_op::prepare(io_uring_sqe& sqe) {
  io_uring_prep_fsync(&sqe, fd_, datasync_ ? IORING_FSYNC_DATASYNC : 0);
}

void rename_op::prepare(io_uring_sqe& sqe) {
  io_uring_prep_renameat(&sqe, olddirfd_, oldpath_.c_str(), newdirfd_, newpath_.c_str(), flags_);
}

void unlink_op::prepare(io_uring_sqe& sqe) {
  io_uring_prep_unlinkat(&sqe, dirfd_, path_.c_str(), flags_);
}

void mkdir_op::prepare(io_uring_sqe& sqe) {
  io_uring_prep_mkdirat(&sqe, dirfd_, path_.c_str(), mode_);
}

void statx_op::prepare(io_uring_sqe& sqe) {
  io_uring_prep_statx(&sqe, dirfd_, path_.c_str(), flags_, mask_, &stx_);
}

// --- file_ops.hpp: path ops and their chains ---

void path_op::prepare_open(io_uring_sqe& sqe) {
  const char* path = spec_.path.c_str();
  if (direct_ && spec_.how)
    io_uring_prep_openat2_direct(&sqe, spec_.dirfd, path, &direct_how_,
                                 static_cast<unsigned>(slot_));
  else if (direct_)
    io_uring_prep_openat_direct(&sqe, spec_.dirfd, path, spec_.flags & ~O_CLOEXEC, spec_.mode,
                                static_cast<unsigned>(slot_));
  else if (spec_.how)
    io_uring_prep_openat2(&sqe, spec_.dirfd, path, &*spec_.how);
  else
    io_uring_prep_openat(&sqe, spec_.dirfd, path, spec_.flags, spec_.mode);
}

void path_op::prepare(io_uring_sqe& sqe) {
  switch (step_) {
    case path_step::open:
      prepare_open(sqe);
      return;
    case path_step::io:
      prepare_io(sqe, fd_);
      if (direct_) sqe.flags |= IOSQE_FIXED_FILE;
      return;
    case path_step::rename:
      io_uring_prep_renameat(&sqe, spec_.dirfd, spec_.path.c_str(), spec_.dirfd,
                             install_path_.c_str(), 0);
      return;
    case path_step::cleanup:
      io_uring_prep_unlinkat(&sqe, spec_.dirfd, spec_.path.c_str(), 0);
      return;
    case path_step::close:
    case path_step::done:  // never issued; a close keeps the SQE meaningful regardless
      if (direct_)
        io_uring_prep_close_direct(&sqe, static_cast<unsigned>(slot_));
      else
        io_uring_prep_close(&sqe, fd_);
      return;
  }
}

void path_op::prepare_chain(io_uring_sqe* const* sqes, int slot) {
  const unsigned n = chain_length();
  chained_ = true;
  direct_ = true;
  slot_ = slot;
  if (spec_.how) {
    direct_how_ = *spec_.how;
    direct_how_.flags &= ~static_cast<std::uint64_t>(O_CLOEXEC);
  }
  prepare_open(*sqes[0]);
  prepare_io(*sqes[1], slot);
  sqes[1]->flags |= IOSQE_FIXED_FILE;
  io_uring_prep_close_direct(sqes[2], static_cast<unsigned>(slot));
  if (n == 4)
    io_uring_prep_renameat(sqes[3], spec_.dirfd, spec_.path.c_str(), spec_.dirfd,
                           install_path_.c_str(), 0);
  // A short read or write fails its link too, so nothing runs on after a partial transfer:
  // the state machine carries on from that step by itself. A one-shot I/O step hard-links
  // on to the close instead, and posts its own CQE.
  for (unsigned i = 0; i + 1 < n; ++i)
    sqes[i]->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
  if (io_is_one_shot()) sqes[1]->flags = IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
  chain_length_ = static_cast<std::uint8_t>(n);
  chain_seen_ = 0;
}

void read_file_op::prepare_io(io_uring_sqe& sqe, int fd) {
  const auto n = std::min(buffer_.size() - done_, max_chunk);
  io_uring_prep_read(&sqe, fd, buffer_.data() + done_, static_cast<unsigned>(n), done_);
  sqe.rw_flags = RWF_NOWAIT;
}

void write_file_op::prepare_io(io_uring_sqe& sqe, int fd) {
  io_uring_prep_writev(&sqe, fd, iov_.data() + first_, batch_count(), done_);
}

void sync_file_op::prepare_io(io_uring_sqe& sqe, int fd) {
  io_uring_prep_fsync(&sqe, fd, datasync_ ? IORING_FSYNC_DATASYNC : 0);
}

}  // namespace larder::detail::io
