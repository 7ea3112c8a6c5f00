// flush: the durability boundary. Batched fdatasync of the installed files, then fsync of
// the directories that name them.
#include <fcntl.h>

#include <string>
#include <utility>
#include <vector>

#include "disk/format.hpp"
#include "disk/state.hpp"
#include "larder/disk_store.hpp"

namespace larder {

using detail::disk::bump;
using detail::disk::is_errno;
using detail::disk::map_error;

asio::awaitable<std::error_code> disk_store::flush() {
  auto& s = *impl_;
  s.counters.add(counter::flushes);
  std::vector<std::pair<std::string, std::uint64_t>> files;
  std::vector<std::pair<unsigned, std::uint64_t>> dirs;
  std::uint64_t root_seq = 0;
  {
    std::lock_guard lock(s.mutex);
    files.assign(s.pending.begin(), s.pending.end());
    for (unsigned d = 0; d < s.dirty_dirs.size(); ++d)
      if (s.dirty_dirs[d] != 0) dirs.emplace_back(d, s.dirty_dirs[d]);
    root_seq = s.root_dirty;
  }

  std::error_code first;
  auto note = [&](std::error_code ec) {
    if (ec && !first) first = ec;
  };
  // Syncs the descriptors as one batch and closes them (never the root's).
  auto sync = [&](std::vector<int> fds, bool datasync) -> asio::awaitable<void> {
    if (fds.empty()) co_return;
    bump(s.disk.fsyncs, fds.size());
    const auto results = co_await s.engine->fsync_all(fds, datasync);
    for (auto ec : results)
      note(ec);
    for (int fd : fds)
      if (fd != s.root_fd) co_await s.engine->close(fd);
  };

  // Files first (fdatasync), then the directories that name them: a rename is durable only
  // once the data it points at is.
  // In batches, so that a flush after many puts never holds more descriptors than this.
  constexpr std::size_t batch = 128;
  std::vector<int> fds;
  for (std::size_t i = 0; i < files.size(); ++i) {
    // O_NONBLOCK: a FIFO planted at the path must not hold the flush.
    auto fd = co_await s.engine->openat(s.root_fd, files[i].first,
                                        O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    // Gone since (erased, evicted, replaced by a rename still pending): nothing to sync.
    if (!fd && !is_errno(fd.error(), ENOENT)) note(fd.error());
    if (fd) fds.push_back(*fd);
    if (fds.size() == batch || i + 1 == files.size()) {
      co_await sync(std::move(fds), true);
      fds.clear();
    }
  }
  for (const auto& [dir, seq] : dirs) {
    auto fd = co_await s.engine->openat(s.root_fd, detail::disk::dir_name(dir),
                                        O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (!fd) note(fd.error());
    if (fd) fds.push_back(*fd);
  }
  if (root_seq != 0) fds.push_back(s.root_fd);
  co_await sync(std::move(fds), false);

  if (first) {
    // Nothing is cleared: every entry of this batch stays pending for the next flush.
    s.note_io_error(first);
    s.counters.add(counter::flush_errors);
    s.counters.add(counter::errors);
    co_return map_error(first);
  }
  std::lock_guard lock(s.mutex);
  // Clear only what this flush covered; later installs keep their newer sequence.
  for (const auto& [path, seq] : files) {
    auto it = s.pending.find(path);
    if (it != s.pending.end() && it->second == seq) s.pending.erase(it);
  }
  for (const auto& [dir, seq] : dirs)
    if (s.dirty_dirs[dir] == seq) s.dirty_dirs[dir] = 0;
  if (s.root_dirty == root_seq) s.root_dirty = 0;
  co_return std::error_code{};
}

}  // namespace larder
