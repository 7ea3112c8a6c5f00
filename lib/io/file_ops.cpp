#include "io/file_ops.hpp"

#include "io/ops.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace larder::detail::io {
namespace {

int result_of(long r) noexcept {
  return r < 0 ? -errno : static_cast<int>(r);
}

}  // namespace

unsigned path_op::chain_length() const noexcept {
  if (chained_ || step_ != path_step::open || !io_fits_one_sqe()) return 0;
  return install_path_.empty() ? 3 : 4;
}

bool path_op::chain_over() const noexcept {
  if (chain_seen_ & 1u) return true;                      // the open failed: nothing after it ran
  if (io_is_one_shot()) return (chain_seen_ & 6u) == 6u;  // the I/O's CQE and the close's
  return chain_seen_ != 0;
}

bool path_op::chain_pending() const noexcept {
  return chain_length_ > 0 && !chain_over();
}

bool path_op::complete_chain(unsigned position, int res) {
  if (chain_length_ == 0) return complete(res);  // a step issued on its own after the chain
  chain_results_[position] = res;
  chain_seen_ |= static_cast<std::uint8_t>(1u << position);
  if (!chain_over()) return false;
  // Feed the state machine the chain's results in order: the steps before the first CQE
  // did all they asked for, the steps after the last one never ran.
  const unsigned n = std::exchange(chain_length_, 0);
  const int whole_io = io_whole_result();
  bool finished = false;
  for (unsigned p = 0; p < n; ++p) {
    const bool seen = chain_seen_ & (1u << p);
    if (!seen && (chain_seen_ & ((1u << p) - 1)) != 0) break;
    finished = complete(seen ? chain_results_[p] : p == 0 ? slot_ : p == 1 ? whole_io : 0);
    if (p == 1 && io_is_one_shot() && step_ == path_step::io) {
      // The chain has closed the file already: whatever the call said, the I/O is over.
      if (chain_results_[1] < 0) io_error_ = chain_results_[1];
      step_ = path_step::close;
    }
  }
  return finished;
}

int path_op::take_slot() noexcept {
  return std::exchange(slot_, -1);
}

int path_op::perform(blocking_context&) {
  switch (step_) {
    case path_step::open:
      if (spec_.how)
        return result_of(
            ::syscall(SYS_openat2, spec_.dirfd, spec_.path.c_str(), &*spec_.how, sizeof(open_how)));
      return result_of(::openat(spec_.dirfd, spec_.path.c_str(), spec_.flags, spec_.mode));
    case path_step::io:
      return perform_io(fd_);
    case path_step::rename:
      return result_of(
          ::renameat(spec_.dirfd, spec_.path.c_str(), spec_.dirfd, install_path_.c_str()));
    case path_step::cleanup:
      return result_of(::unlinkat(spec_.dirfd, spec_.path.c_str(), 0));
    case path_step::close:
    case path_step::done:
      return result_of(::close(fd_));
  }
  return -EINVAL;
}

bool path_op::complete(int res) {
  switch (step_) {
    case path_step::open:
      if (res == -EINTR || res == -EAGAIN) return false;
      if (res < 0) {
        end_with(path_step::open, res);
        return true;
      }
      fd_ = direct_ ? slot_ : res;  // a direct open returns 0
      step_ = path_step::io;
      return false;
    case path_step::io:
      if (res == -EINTR) return false;
      if (res < 0) {
        io_error_ = res;
        step_ = path_step::close;
        return false;
      }
      if (const int r = io_complete(res); r == 0) {
        return false;
      } else if (r < 0) {
        io_error_ = r;
      }
      step_ = path_step::close;
      return false;
    case path_step::close:
    case path_step::done:
      // Linux releases the fd even when close says EINTR. ECANCELED: the ring was torn down
      // before the close ran, so close it here rather than leak it.
      if (res == -ECANCELED && !direct_) ::close(fd_);
      fd_ = -1;
      if (io_error_ < 0) {
        clean_up_after(path_step::io, io_error_);
      } else if (res < 0 && res != -EINTR && res != -ECANCELED) {
        clean_up_after(path_step::close, res);
      } else if (!install_path_.empty()) {
        step_ = path_step::rename;
        return false;
      } else {
        step_ = path_step::done;
      }
      return step_ == path_step::done;
    case path_step::rename:
      if (res == -EINTR || res == -EAGAIN) return false;
      if (res < 0) {
        clean_up_after(path_step::rename, res);
        return step_ == path_step::done;
      }
      step_ = path_step::done;
      return true;
    case path_step::cleanup:
      if (res == -EINTR || res == -EAGAIN) return false;
      // What the request failed with is what counts; an unlink that fails too leaves a temp
      // file for the store's open to remove.
      end_with(pending_step_, pending_error_);
      return true;
  }
  return true;
}

void path_op::end_with(path_step step, int negative_errno) noexcept {
  failed_ = step;
  step_ = path_step::done;
  fail(negative_errno);
}

void path_op::clean_up_after(path_step step, int negative_errno) noexcept {
  if (install_path_.empty()) {
    end_with(step, negative_errno);
    return;
  }
  pending_step_ = step;
  pending_error_ = negative_errno;
  step_ = path_step::cleanup;
}

void path_op::abandon() noexcept {
  // Dropped mid-way (the io_context went away with the request queued): close what it holds.
  // A direct descriptor goes with the ring's table.
  if (fd_ >= 0 && !direct_) ::close(std::exchange(fd_, -1));
}

// --- read ---

int read_file_op::perform_io(int fd) {
  iovec iov{buffer_.data() + done_, std::min(buffer_.size() - done_, max_chunk)};
  const long r = ::preadv2(fd, &iov, 1, static_cast<off_t>(done_), RWF_NOWAIT);
  // A FIFO has no offsets (ESPIPE); io_uring reads it as a stream, and so do we.
  if (r < 0 && errno == ESPIPE) return result_of(::preadv2(fd, &iov, 1, -1, RWF_NOWAIT));
  return result_of(r);
}

int read_file_op::io_complete(int res) {
  // A call that got less than it asked for met the end of the file or of the page cache.
  const bool short_call = res < io_whole_result();
  done_ += static_cast<std::size_t>(res);
  return short_call || done_ == buffer_.size() ? 1 : 0;
}

int read_file_op::io_whole_result() const noexcept {
  return static_cast<int>(std::min(buffer_.size() - done_, max_chunk));
}

bool read_file_op::io_fits_one_sqe() const noexcept {
  return buffer_.size() - done_ <= max_chunk;
}

blob_buffer read_file_op::take() noexcept {
  buffer_.truncate(done_);
  return std::move(buffer_);
}

// --- write ---

write_file_op::write_file_op(open_spec spec, std::string install_path, std::vector<blob> parts)
    : path_op(std::move(spec)), parts_(std::move(parts)) {
  install_as(std::move(install_path));
  iov_.reserve(parts_.size());
  for (const auto& p : parts_) {
    if (p.empty()) continue;
    iov_.push_back(iovec{const_cast<std::byte*>(p.data()), p.size()});
    total_ += p.size();
  }
}

unsigned write_file_op::batch_count() const noexcept {
  return iovec_batch(iov_, first_);
}

int write_file_op::perform_io(int fd) {
  return result_of(::pwritev(fd, iov_.data() + first_, static_cast<int>(batch_count()),
                             static_cast<off_t>(done_)));
}

int write_file_op::io_complete(int res) {
  if (res == 0 && done_ < total_) return -EIO;  // a regular file that takes nothing: broken
  const auto n = static_cast<std::size_t>(res);
  done_ += n;
  consume_iovecs(iov_, first_, n);
  return done_ >= total_ ? 1 : 0;
}

int write_file_op::io_whole_result() const noexcept {
  return static_cast<int>(total_ - done_);
}

bool write_file_op::io_fits_one_sqe() const noexcept {
  return total_ - done_ <= max_chunk && first_ + batch_count() == iov_.size();
}

// --- sync ---

int sync_file_op::perform_io(int fd) {
  return result_of(datasync_ ? ::fdatasync(fd) : ::fsync(fd));
}

int sync_file_op::io_complete(int) {
  return 1;
}

}  // namespace larder::detail::io
