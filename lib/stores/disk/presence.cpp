#include "stores/disk/presence.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <system_error>
#include <utility>

#include "larder/error.hpp"
#include "stores/disk/snapshot.hpp"

namespace larder::detail::disk {

namespace {

// The shared lock over the whole file; F_OFD_SETLK never waits.
int share(int fd) noexcept {
  struct flock l {};
  l.l_type = F_RDLCK;
  l.l_whence = SEEK_SET;
  return ::fcntl(fd, F_OFD_SETLK, &l);
}

// Whether another open file description holds a lock on the file (ours is not counted).
bool others_hold(int fd) noexcept {
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_GETLK, &l) != 0) return true;  // cannot tell: assume so
  return l.l_type != F_UNLCK;
}

bool gate(int fd) noexcept {
  return ::flock(fd, LOCK_EX | LOCK_NB) == 0;
}

std::error_code last_error() noexcept {
  return {errno, std::system_category()};
}

bool is_code(std::error_code ec, int e) noexcept {
  return ec == std::error_code(e, std::system_category());
}

// Beneath the root, the name itself never followed (kernels without openat2: O_NOFOLLOW).
asio::awaitable<result<int>> open_lock(io_engine& engine, int root_fd, int flags) {
  auto fd = co_await engine.openat2(root_fd, std::string(lock_name), flags | O_CLOEXEC | O_NOFOLLOW,
                                    0644);
  if (!fd && (is_code(fd.error(), ENOSYS) || is_code(fd.error(), EINVAL)))
    fd = co_await engine.openat(root_fd, std::string(lock_name), flags | O_CLOEXEC | O_NOFOLLOW,
                                0644);
  co_return fd;
}

}  // namespace

presence::presence(presence&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), length_(other.length_), counted_(other.counted_) {}

presence& presence::operator=(presence&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    length_ = other.length_;
    counted_ = other.counted_;
  }
  return *this;
}

// A plain close: it cannot block on I/O, it releases the lock, and a destructor cannot await.
presence::~presence() {
  if (fd_ >= 0) ::close(fd_);
}

asio::awaitable<result<presence>> presence::join(io_engine& engine, int root_fd, unsigned wait_ms) {
  // Created by the first opener; an existing file is opened as it is.
  auto fd = co_await open_lock(engine, root_fd, O_RDONLY | O_CREAT);
  if (!fd) co_return fd.error();
  presence p;
  p.fd_ = *fd;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (auto pause = std::chrono::microseconds(100); !gate(p.fd_);) {
    if (errno != EWOULDBLOCK) co_return last_error();
    if (std::chrono::steady_clock::now() >= deadline) co_return make_error_code(errc::timed_out);
    timer.expires_after(pause);
    co_await timer.async_wait(asio::use_awaitable);
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
  struct reopen {
    int fd;
    ~reopen() { (void)::flock(fd, LOCK_UN); }
  } gate_again{p.fd_};
  if (share(p.fd_) != 0) co_return last_error();
  auto writer = co_await open_lock(engine, root_fd, O_WRONLY | O_APPEND);
  if (!writer) co_return writer.error();
  auto before = co_await engine.statx(*writer, "", AT_EMPTY_PATH, STATX_SIZE);
  static const std::byte mark[1] = {std::byte{'o'}};
  result<std::size_t> wrote =
      before ? co_await engine.write(*writer, blob::copy_of(std::span(mark)), 0)
             : result<std::size_t>(before.error());
  auto after = wrote ? co_await engine.statx(*writer, "", AT_EMPTY_PATH, STATX_SIZE)
                     : result<struct statx>(wrote.error());
  co_await engine.close(*writer);
  if (!after) co_return after.error();
  p.length_ = after->stx_size;
  // Behind the gate no other byte can come between; a file changed otherwise is not trusted.
  p.counted_ = after->stx_size == before->stx_size + 1;
  co_return std::move(p);
}

bool presence::try_close_gate() noexcept {
  return fd_ >= 0 && gate(fd_);
}

void presence::open_gate() noexcept {
  if (fd_ >= 0) (void)::flock(fd_, LOCK_UN);
}

asio::awaitable<result<bool>> presence::alone_since_join(io_engine& engine, int root_fd) {
  if (others_hold(fd_)) co_return false;
  auto now = co_await engine.statx(fd_, "", AT_EMPTY_PATH, STATX_SIZE);
  if (!now) co_return now.error();
  const bool alone = counted_ && now->stx_size == length_;
  // Nobody else is open and nobody can join: the count may start again, which keeps the
  // file from growing by a byte per opener for ever. A failed truncation only leaves it
  // longer.
  if (auto writer = co_await open_lock(engine, root_fd, O_WRONLY)) {
    if (::ftruncate(*writer, 0) == 0) {
      length_ = 0;
      counted_ = alone;
    }
    co_await engine.close(*writer);
  }
  co_return alone;
}

}  // namespace larder::detail::disk
