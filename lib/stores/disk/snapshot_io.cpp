// The saved index's I/O: loading it for the scan, and disk_store::save_index().
#include "stores/disk/snapshot_io.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <string>
#include <utility>

#include "larder/disk_store.hpp"
#include "stores/disk/format.hpp"

namespace larder {

namespace detail::disk {

namespace {

// Beyond this a file at the index's name is not one (22 million 32-byte keys fit).
constexpr std::uint64_t max_saved_bytes = 1ull << 30;

time_ns stamp(const struct statx_timestamp& t) noexcept {
  return t.tv_sec * 1'000'000'000ll + t.tv_nsec;
}

time_ns wall_clock_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return t.tv_sec * 1'000'000'000ll + t.tv_nsec;
}

// The fan-out directory's mtime, or nullopt when it is missing, unreadable or not one.
asio::awaitable<std::optional<time_ns>> dir_mtime(disk_store::impl& s, unsigned d) {
  auto st = co_await s.engine->statx(s.root_fd, dir_name(d), AT_SYMLINK_NOFOLLOW,
                                     STATX_TYPE | STATX_MTIME);
  if (!st || !S_ISDIR(st->stx_mode)) co_return std::nullopt;
  co_return stamp(st->stx_mtime);
}

asio::awaitable<std::optional<snapshot>> read_saved(disk_store::impl& s, bool& refused) {
  const std::string name(snapshot_name);
  auto st = co_await s.engine->statx(s.root_fd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_SIZE);
  if (!st) {
    if (!is_errno(st.error(), ENOENT)) s.note_io_error(st.error());
    co_return std::nullopt;
  }
  if (!S_ISREG(st->stx_mode) || st->stx_size > max_saved_bytes) {
    refused = true;
    co_return std::nullopt;
  }
  auto fd = co_await s.open_entry(name);
  if (!fd) {
    if (!is_errno(fd.error(), ENOENT)) s.note_io_error(fd.error());
    co_return std::nullopt;
  }
  auto bytes = co_await s.engine->read(*fd, st->stx_size, 0);
  co_await s.engine->close(*fd);
  if (!bytes) {
    s.note_io_error(bytes.error());
    co_return std::nullopt;
  }
  bump(s.disk.bytes_read, bytes->size());
  auto decoded = decode_snapshot(bytes->bytes());
  if (!decoded) refused = true;
  co_return decoded;
}

}  // namespace

asio::awaitable<loaded_index> load_saved_index(disk_store::impl& s) {
  loaded_index out;
  if (!s.options.use_saved_index) co_return out;
  auto saved = co_await read_saved(s, out.refused);
  if (!saved) co_return out;
  std::array<std::optional<time_ns>, 256> now;
  for (unsigned d = 0; d < 256; ++d)
    if (saved->dirs[d].trusted) now[d] = co_await dir_mtime(s, d);
  out.dirs = dirs_to_trust(*saved, now);
  out.written_ns = saved->written_ns;
  // Ranks in the order of use: the saved entries get times just before the save, in that
  // order, so that they sort among the files scanned (by mtime) as they were used.
  const auto count = static_cast<time_ns>(saved->entries.size());
  time_ns rank = 0;
  for (auto& e : saved->entries) {
    const time_ns at = saved->written_ns - count + rank++;
    if (out.dirs[e.dir])
      out.entries.push_back({std::move(e), at});
    else
      out.ranks.emplace(std::move(e.key), at);
  }
  co_return out;
}

}  // namespace detail::disk

using detail::disk::is_errno;

asio::awaitable<std::error_code> disk_store::save_index() {
  using namespace detail::disk;
  auto& s = *impl_;
  if (!s.presence.joined()) co_return s.presence_error;
  if (auto ec = co_await s.wait_indexed()) co_return ec;
  // The entries it lists are then on disk for good (it does not say so: a get checks).
  if (auto ec = co_await flush()) co_return ec;
  // Nobody joins while the gate is closed, so nobody changes the directory unseen.
  auto gate = co_await s.presence.try_close_gate(*s.engine, s.root_fd);
  if (!gate) co_return gate.error();
  if (!*gate) co_return make_error_code(errc::directory_shared);
  auto alone = co_await s.presence.alone_since_join(*s.engine, **gate);
  if (!alone) co_return alone.error();
  if (!*alone) co_return make_error_code(errc::directory_shared);

  // Which directories it can vouch for: none changing when their mtimes are read, none
  // changed between then and the copy of the index, none with a file the index lacks.
  std::array<std::uint64_t, 256> changes{};
  std::bitset<256> quiet;
  {
    std::lock_guard lock(s.mutex);
    changes = s.dir_changes;
    for (unsigned d = 0; d < 256; ++d)
      quiet[d] = s.dir_busy[d] == 0 && !s.dirs_incomplete[d];
  }
  snapshot snap;
  for (unsigned d = 0; d < 256; ++d)
    if (quiet[d]) {
      if (auto m = co_await dir_mtime(s, d)) snap.dirs[d] = {true, *m};
    }
  snap.written_ns = wall_clock_ns();
  std::vector<std::pair<std::string, std::uint64_t>> copied;
  {
    std::lock_guard lock(s.mutex);
    for (unsigned d = 0; d < 256; ++d)
      if (s.dir_changes[d] != changes[d] || s.dir_busy[d] != 0) snap.dirs[d].trusted = false;
    copied.reserve(s.index.size());
    s.index.for_each_by_use(
        [&](const index_node& n) { copied.emplace_back(std::string(n.key()), n.size); });
  }
  for (auto& d : snap.dirs)
    if (d.trusted && !settled(d.mtime_ns, snap.written_ns)) d.trusted = false;
  // Every entry, those of directories it does not vouch for included: the next open takes
  // their order of use from here when it finds their files unchanged.
  snap.entries.reserve(copied.size());
  for (auto& [key, size] : copied) {
    const auto dir = static_cast<std::uint8_t>(dir_of(name_of(key)));
    snap.entries.push_back({std::move(key), size, dir});
  }

  // Written to a temp file, synced, renamed over the old one, the root synced: a crash
  // leaves the old index or the new, and a torn one fails its digest.
  const std::string temp(snapshot_temp_name);
  const std::string name(snapshot_name);
  if (auto ec = co_await s.engine->unlinkat(s.root_fd, temp); ec && !is_errno(ec, ENOENT))
    co_return ec;
  auto bytes = encode_snapshot(snap);
  const auto length = bytes.size();
  auto fd = co_await s.engine->openat(s.root_fd, temp,
                                      O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (!fd) co_return fd.error();
  auto written = co_await s.engine->write(*fd, std::move(bytes), 0);
  std::error_code ec = written ? std::error_code{} : written.error();
  if (!ec) ec = co_await s.engine->fsync(*fd, true);
  co_await s.engine->close(*fd);
  if (!ec) ec = co_await s.engine->renameat(s.root_fd, temp, s.root_fd, name);
  if (ec) {
    (void)co_await s.engine->unlinkat(s.root_fd, temp);
    s.note_io_error(ec);
    co_return map_error(ec);
  }
  bump(s.disk.bytes_written, length);
  bump(s.disk.fsyncs, 2);
  if (auto root = co_await s.engine->fsync(s.root_fd, false)) {
    s.note_io_error(root);
    co_return root;
  }
  co_return std::error_code{};
}

}  // namespace larder
