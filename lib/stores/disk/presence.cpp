#include "stores/disk/presence.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>
#include <utility>

#include "larder/error.hpp"
#include "stores/disk/snapshot.hpp"

namespace larder::detail::disk {

namespace {

constexpr off_t presence_byte = 0;
constexpr off_t gate_byte = 1;

// An OFD lock of one byte; F_OFD_SETLK never waits.
int lock_byte(int fd, short type, off_t at) noexcept {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = at;
  l.l_len = 1;
  return ::fcntl(fd, F_OFD_SETLK, &l);
}

// Whether another open file description holds the presence byte (ours is not counted).
bool others_hold(int fd) noexcept {
  struct flock l {};
  l.l_type = F_WRLCK;
  l.l_whence = SEEK_SET;
  l.l_start = presence_byte;
  l.l_len = 1;
  if (::fcntl(fd, F_OFD_GETLK, &l) != 0) return true;  // cannot tell: assume so
  return l.l_type != F_UNLCK;
}

// The lock is held in a conflicting mode (POSIX allows either code).
bool busy(int e) noexcept {
  return e == EAGAIN || e == EACCES;
}

std::error_code last_error() noexcept {
  return {errno, std::system_category()};
}

bool is_code(std::error_code ec, int e) noexcept {
  return ec == std::error_code(e, std::system_category());
}

// Closes a descriptor on every way out of a scope (a plain close: a regular file's cannot
// block on I/O).
struct closer {
  int fd;
  ~closer() {
    if (fd >= 0) ::close(fd);
  }
};

// Beneath the root, the name itself never followed (kernels without openat2: O_NOFOLLOW), a
// FIFO planted there never waited for (O_NONBLOCK), and refused unless a regular file.
asio::awaitable<result<int>> open_lock(io_engine& engine, int root_fd, int flags) {
  flags |= O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  auto fd = co_await engine.openat2(root_fd, std::string(lock_name), flags, 0666);
  if (!fd && (is_code(fd.error(), ENOSYS) || is_code(fd.error(), EINVAL)))
    fd = co_await engine.openat(root_fd, std::string(lock_name), flags, 0666);
  if (!fd) co_return fd;
  auto st = co_await engine.statx(*fd, "", AT_EMPTY_PATH, STATX_TYPE);
  if (st && S_ISREG(st->stx_mode)) co_return fd;
  co_await engine.close(*fd);
  if (!st) co_return st.error();
  co_return make_error_code(errc::not_a_cache_directory);
}

// Counts this join in `larder.joins` (created if missing) and maps the count read-only.
// Behind the gate, so a plain read and write of the eight bytes cannot lose another join's
// increment. The mapping is made through a read-only descriptor, closed at once: a writable
// one would keep the file system from being remounted read-only. nullptr when any step
// fails: the store then takes itself for shared.
struct mapped_count {
  const std::uint64_t* at = nullptr;
  std::uint64_t value = 0;  // just after this join
};

asio::awaitable<mapped_count> count_join(io_engine& engine, int root_fd) {
  constexpr int flags = O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  const std::string name(joins_name);
  auto open = [&](int how) -> asio::awaitable<result<int>> {
    auto fd = co_await engine.openat2(root_fd, name, how | flags, 0666);
    if (!fd && (is_code(fd.error(), ENOSYS) || is_code(fd.error(), EINVAL)))
      fd = co_await engine.openat(root_fd, name, how | flags, 0666);
    co_return fd;
  };
  mapped_count out;
  std::uint64_t count = 0;
  {
    auto fd = co_await open(O_RDWR | O_CREAT);
    if (!fd) co_return out;
    closer closed{*fd};
    auto st = co_await engine.statx(*fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE);
    if (!st || !S_ISREG(st->stx_mode)) co_return out;
    if (st->stx_size >= sizeof(count)) {
      auto bytes = co_await engine.read(*fd, sizeof(count), 0);
      if (!bytes || bytes->size() != sizeof(count)) co_return out;
      std::memcpy(&count, bytes->data(), sizeof(count));
    }
    ++count;
    std::byte encoded[sizeof(count)];
    std::memcpy(encoded, &count, sizeof(count));
    auto next = blob::copy_of(std::span(encoded));  // named: not a temporary in the co_await
    auto wrote = co_await engine.write(*fd, std::move(next), 0);
    if (!wrote || *wrote != sizeof(count)) co_return out;
  }
  auto fd = co_await open(O_RDONLY);
  if (!fd) co_return out;
  closer closed{*fd};
  void* at = ::mmap(nullptr, sizeof(count), PROT_READ, MAP_SHARED, *fd, 0);
  if (at == MAP_FAILED) co_return out;
  out.at = static_cast<const std::uint64_t*>(at);
  out.value = count;
  co_return out;
}

}  // namespace

presence::gate::~gate() {
  if (fd_ >= 0) ::close(fd_);  // releases the gate
}

presence::presence(presence&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      length_(other.length_),
      counted_(other.counted_),
      alone_at_join_(other.alone_at_join_),
      joins_(std::exchange(other.joins_, nullptr)),
      joins_seen_(other.joins_seen_) {}

presence& presence::operator=(presence&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::exchange(other.fd_, -1);
    length_ = other.length_;
    counted_ = other.counted_;
    alone_at_join_ = other.alone_at_join_;
    joins_ = std::exchange(other.joins_, nullptr);
    joins_seen_ = other.joins_seen_;
  }
  return *this;
}

// A plain close: it cannot block on I/O, it releases the lock, and a destructor cannot await.
void presence::release() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  if (joins_)
    ::munmap(const_cast<std::uint64_t*>(std::exchange(joins_, nullptr)), sizeof(std::uint64_t));
}

presence::~presence() {
  release();
}

bool presence::shared() const noexcept {
  if (fd_ < 0 || !joins_ || !alone_at_join_) return true;
  // Another join writes the count with write(2): the page this maps is the same page.
  return __atomic_load_n(joins_, __ATOMIC_ACQUIRE) != joins_seen_;
}

asio::awaitable<result<presence>> presence::join(io_engine& engine, int root_fd, unsigned wait_ms) {
  // Created by the first opener; an existing file is opened as it is.
  auto fd = co_await open_lock(engine, root_fd, O_RDONLY | O_CREAT);
  if (!fd) co_return fd.error();
  presence p;
  p.fd_ = *fd;
  auto writer = co_await open_lock(engine, root_fd, O_WRONLY | O_APPEND);
  if (!writer) co_return writer.error();
  closer writer_closed{*writer};  // and with it the gate
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (auto pause = std::chrono::microseconds(100); lock_byte(*writer, F_WRLCK, gate_byte) != 0;) {
    if (!busy(errno)) co_return last_error();
    if (std::chrono::steady_clock::now() >= deadline) co_return make_error_code(errc::timed_out);
    timer.expires_after(pause);
    co_await timer.async_wait(asio::use_awaitable);
    pause = std::min(pause * 2, std::chrono::microseconds(20'000));
  }
  if (lock_byte(p.fd_, F_RDLCK, presence_byte) != 0) co_return last_error();
  // A store already open when this one joined: whatever it does, and did, is not in this
  // one's index, however the counting goes afterwards.
  const bool alone = !others_hold(p.fd_);
  auto before = co_await engine.statx(*writer, "", AT_EMPTY_PATH, STATX_SIZE);
  if (!before) co_return before.error();
  static const std::byte mark[1] = {std::byte{'o'}};
  auto byte = blob::copy_of(std::span(mark));  // named: not a temporary inside the co_await
  auto wrote = co_await engine.write(*writer, std::move(byte), 0);
  if (!wrote) co_return wrote.error();
  auto after = co_await engine.statx(*writer, "", AT_EMPTY_PATH, STATX_SIZE);
  if (!after) co_return after.error();
  p.length_ = after->stx_size;
  // Behind the gate no other byte can come between; a file changed otherwise is not trusted.
  p.counted_ = alone && after->stx_size == before->stx_size + 1;
  p.alone_at_join_ = alone;
  // Counted after the shared lock is taken: a store that joins later bumps the count, one
  // that joined earlier still holds byte 0 (and `alone` is false).
  const auto joins = co_await count_join(engine, root_fd);
  p.joins_ = joins.at;
  p.joins_seen_ = joins.value;
  co_return std::move(p);
}

asio::awaitable<result<std::optional<presence::gate>>> presence::try_close_gate(io_engine& engine,
                                                                                int root_fd) {
  auto writer = co_await open_lock(engine, root_fd, O_WRONLY);
  if (!writer) co_return writer.error();
  gate closed(*writer);
  if (lock_byte(closed.fd(), F_WRLCK, gate_byte) == 0) co_return std::move(closed);
  if (busy(errno)) co_return std::nullopt;
  co_return last_error();
}

asio::awaitable<result<bool>> presence::alone_since_join(io_engine& engine, gate& closed) {
  if (others_hold(fd_)) co_return false;
  auto now = co_await engine.statx(fd_, "", AT_EMPTY_PATH, STATX_SIZE);
  if (!now) co_return now.error();
  const bool alone = counted_ && now->stx_size == length_;
  // Nobody else is open and nobody can join: the count may start again, which keeps the
  // file from growing by a byte per opener for ever. A failed truncation only leaves it
  // longer.
  if (::ftruncate(closed.fd(), 0) == 0) {
    length_ = 0;
    counted_ = alone;
  }
  co_return alone;
}

}  // namespace larder::detail::disk
