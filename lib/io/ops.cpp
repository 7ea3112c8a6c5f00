#include "io/ops.hpp"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>

namespace larder::detail::io {
namespace {

int result_of(long r) noexcept {
  return r < 0 ? -errno : static_cast<int>(r);
}

// pread on a pipe says ESPIPE; io_uring ignores the offset there, and so do we.
template <class Positioned, class Streamed>
int positioned_or_streamed(std::uint64_t offset, Positioned positioned, Streamed streamed) {
  if (offset == transfer_op::current_position) return result_of(streamed());
  const long r = positioned(static_cast<off_t>(offset));
  if (r < 0 && errno == ESPIPE) return result_of(streamed());
  return result_of(r);
}

}  // namespace

// --- open ---

int open_op::perform(blocking_context&) {
  if (how_)
    return result_of(::syscall(SYS_openat2, dirfd_, path_.c_str(), &*how_, sizeof(open_how)));
  return result_of(::openat(dirfd_, path_.c_str(), flags_, mode_));
}

bool open_op::complete(int res) {
  if (!op::complete(res)) return false;
  if (res >= 0) fd_ = res;
  return true;
}

void open_op::abandon() noexcept {
  // Nobody will take this fd; a close of a file just opened does no I/O worth offloading.
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

// --- transfers ---

bool transfer_op::complete(int res) {
  if (polling_) {
    polling_ = false;
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
      fail(res);
      return true;
    }
    return false;  // ready (or interrupted): try the transfer again
  }
  if (res == -EAGAIN && !nowait_) {
    poll_next_ = true;
    return false;
  }
  if (res == -EINTR) return false;
  if (res < 0) {
    fail(res);
    return true;
  }
  if (res == 0 && remaining() > 0) {
    if (!zero_is_end()) fail(-EIO);
    return true;
  }
  advance(static_cast<std::size_t>(res));
  return remaining() == 0;
}

read_op::read_op(int fd, std::size_t length, std::uint64_t offset, bool nowait)
    : transfer_op(fd, offset, POLLIN, nowait), buffer_(length) {}

int read_op::perform(blocking_context& ctx) {
  std::byte* at = buffer_.data() + done_;
  const std::size_t n = std::min(remaining(), max_chunk);
  if (nowait()) {
    iovec iov{at, n};
    return positioned_or_streamed(
        offset_now(), [&](off_t off) { return ::preadv2(fd_, &iov, 1, off, RWF_NOWAIT); },
        [&] { return ::preadv2(fd_, &iov, 1, -1, RWF_NOWAIT); });
  }
  if (const int r = ctx.wait_ready(fd_, POLLIN); r < 0) return r;
  return positioned_or_streamed(
      offset_now(), [&](off_t off) { return ::pread(fd_, at, n, off); },
      [&] { return ::read(fd_, at, n); });
}

blob_buffer read_op::take() noexcept {
  buffer_.truncate(done_);
  return std::move(buffer_);
}

int write_op::perform(blocking_context& ctx) {
  if (const int r = ctx.wait_ready(fd_, POLLOUT); r < 0) return r;
  const std::byte* at = data_.data() + done_;
  const std::size_t n = std::min(remaining(), max_chunk);
  return positioned_or_streamed(
      offset_now(), [&](off_t off) { return ::pwrite(fd_, at, n, off); },
      [&] { return ::write(fd_, at, n); });
}

writev_op::writev_op(int fd, std::vector<blob> parts, std::uint64_t offset)
    : transfer_op(fd, offset, POLLOUT), parts_(std::move(parts)) {
  iov_.reserve(parts_.size());
  for (const blob& part : parts_) {
    if (part.empty()) continue;  // an empty iovec would only cost a slot
    iov_.push_back({const_cast<std::byte*>(part.data()), part.size()});
    total_ += part.size();
  }
}

void consume_iovecs(std::vector<iovec>& iov, std::size_t& first, std::size_t n) noexcept {
  while (n > 0 && first < iov.size()) {
    iovec& v = iov[first];
    if (n >= v.iov_len) {
      n -= v.iov_len;
      ++first;
    } else {
      v.iov_base = static_cast<std::byte*>(v.iov_base) + n;
      v.iov_len -= n;
      n = 0;
    }
  }
}

unsigned iovec_batch(const std::vector<iovec>& iov, std::size_t first) noexcept {
  return static_cast<unsigned>(std::min<std::size_t>(iov.size() - first, IOV_MAX));
}

unsigned writev_op::batch_count() const noexcept {
  return iovec_batch(iov_, first_);
}

void writev_op::advance(std::size_t n) noexcept {
  done_ += n;
  consume_iovecs(iov_, first_, n);
}

int writev_op::perform(blocking_context& ctx) {
  if (const int r = ctx.wait_ready(fd_, POLLOUT); r < 0) return r;
  const iovec* at = iov_.data() + first_;
  const int count = static_cast<int>(batch_count());
  return positioned_or_streamed(
      offset_now(), [&](off_t off) { return ::pwritev(fd_, at, count, off); },
      [&] { return ::writev(fd_, at, count); });
}

// --- the rest: one system call each ---

int close_op::perform(blocking_context&) {
  return result_of(::close(fd_));
}
bool close_op::complete(int res) {
  // Linux releases the fd even when close says EINTR; closing again could hit a reused fd.
  if (res < 0 && res != -EINTR) fail(res);
  return true;
}

int fsync_op::perform(blocking_context&) {
  return result_of(datasync_ ? ::fdatasync(fd_) : ::fsync(fd_));
}

int rename_op::perform(blocking_context&) {
  return result_of(::renameat2(olddirfd_, oldpath_.c_str(), newdirfd_, newpath_.c_str(), flags_));
}

int unlink_op::perform(blocking_context&) {
  return result_of(::unlinkat(dirfd_, path_.c_str(), flags_));
}

int mkdir_op::perform(blocking_context&) {
  return result_of(::mkdirat(dirfd_, path_.c_str(), mode_));
}

int statx_op::perform(blocking_context&) {
  return result_of(::statx(dirfd_, path_.c_str(), flags_, mask_, &stx_));
}

}  // namespace larder::detail::io
