// A get's slow path and the entry open it uses: what the fast path (one request: open, a
// read that never waits, close) could not settle is decided here, with a statx first.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <string>

#include "larder/disk_store.hpp"
#include "stores/disk/format.hpp"
#include "stores/disk/state.hpp"

namespace larder {

using detail::disk::bump;
using detail::disk::is_errno;

asio::awaitable<result<int>> disk_store::impl::open_entry(const std::string& path) {
  constexpr int flags = entry_open_flags;
  if (!openat2_unsupported.load(std::memory_order_relaxed)) {
    auto fd = co_await engine->openat2(root_fd, path, flags, 0, entry_resolve);
    if (fd || !(is_errno(fd.error(), ENOSYS) || is_errno(fd.error(), EINVAL))) co_return fd;
    // An older kernel: O_NOFOLLOW still refuses a symlink as the last component, and the
    // fan-out directory was opened by us beneath the root.
    openat2_unsupported.store(true, std::memory_order_relaxed);
  }
  co_return co_await engine->openat(root_fd, path, flags);
}

asio::awaitable<lookup> disk_store::impl::read_careful(const std::string& k,
                                                       std::uint64_t generation,
                                                       std::uint64_t indexed_size,
                                                       const std::string& path) {
  auto fault = [this](std::error_code ec) {
    note_io_error(ec);
    counters.add(counter::errors);
    counters.add(counter::lookup_faults);
    return lookup::fault(ec);
  };
  // Generation 0: a key the index does not hold yet (the scan is running). Its file is the
  // scan's to judge, count and remove; here it is only a miss.
  const bool indexed_entry = generation != 0;
  auto bad = [&]() -> asio::awaitable<lookup> {
    if (indexed_entry) co_return co_await discard(k, generation);
    counters.add(counter::misses);
    co_return lookup::miss();
  };
  auto fd = co_await open_entry(path);
  if (!fd) {
    if (is_errno(fd.error(), ENOENT)) {
      forget(k, generation);
      counters.add(counter::misses);
      co_return lookup::miss();
    }
    if (is_errno(fd.error(), ELOOP) || is_errno(fd.error(), EXDEV)) co_return co_await bad();
    co_return fault(fd.error());
  }
  auto st = co_await engine->statx(*fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE);
  if (!st) {
    co_await engine->close(*fd);
    co_return fault(st.error());
  }
  // Anything but a regular file, or a size out of bounds, before allocating for it. The
  // bound is this store's limit, or the size the index took from the file (an entry that an
  // opener with a larger limit stored), whichever is larger.
  const auto limit =
      std::max(detail::disk::file_size(k.size(), options.max_value_size), indexed_size);
  if (!S_ISREG(st->stx_mode) || st->stx_size < detail::disk::file_size(k.size(), 0) ||
      st->stx_size > limit) {
    co_await engine->close(*fd);
    co_return co_await bad();
  }
  auto buffer = co_await engine->read(*fd, st->stx_size, 0);
  co_await engine->close(*fd);
  if (!buffer) co_return fault(buffer.error());
  bump(disk.bytes_read, buffer->size());
  const blob file = std::move(*buffer).freeze();
  const auto range = detail::disk::verify(file.bytes(), k);
  if (!range) co_return co_await bad();
  if (!indexed_entry) {
    adopt(k, st->stx_size);  // another opener's entry, now this one's to count and evict
  } else if (st->stx_size != indexed_size) {
    // Replaced by another opener with a value of another size: count what is there.
    std::lock_guard lock(mutex);
    if (auto* n = index.find(k); n && n->generation == generation) {
      bytes = bytes - n->size + st->stx_size;
      n->size = st->stx_size;
    }
  }
  counters.add(counter::hits);
  co_return lookup::hit(file.slice(range->offset, range->length));
}

}  // namespace larder
