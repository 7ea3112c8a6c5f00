// flush: the durability boundary. Waits for the removals begun before it, then batched
// fdatasync of the installed files, then fsync of the directories that name them or that
// removals changed.
#include <fcntl.h>

#include <algorithm>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "larder/disk_store.hpp"
#include "stores/disk/format.hpp"
#include "stores/disk/state.hpp"

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
  // Every removal begun before this flush ends first (its unlinks done, its directories
  // marked dirty), so that the directory syncs below make it durable.
  const auto executor = co_await asio::this_coro::executor;
  std::uint64_t start = 0;
  for (;;) {
    std::shared_ptr<detail::disk::removal_waiter> waiter;
    {
      std::lock_guard lock(s.mutex);
      if (start == 0) start = s.next_removal;
      if (!s.removal_before_locked(start)) break;
      waiter = s.add_waiter_locked(executor);
    }
    if (auto ec = co_await s.wait(std::move(waiter))) co_return ec;
  }
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

  // Files first (fdatasync), then the directories that name them: a rename is durable only
  // once the data it points at is. Each path is one request (open, sync, close) and a batch
  // of them goes out together, so the syncs run side by side on the kernel's workers; the
  // batch bounds how many descriptors a flush after many puts holds at once.
  // O_NONBLOCK: a FIFO planted at the path must not hold the flush.
  constexpr std::size_t batch = 256;
  auto sync_paths = [&](std::vector<std::string> paths, int flags,
                        bool datasync) -> asio::awaitable<void> {
    for (std::size_t at = 0; at < paths.size(); at += batch) {
      const std::size_t end = std::min(paths.size(), at + batch);
      std::vector<std::string> part(std::make_move_iterator(paths.begin() + at),
                                    std::make_move_iterator(paths.begin() + end));
      const auto results =
          co_await s.engine->sync_files(s.root_fd, std::move(part), flags, datasync);
      for (const auto& r : results) {
        // Gone since (erased, evicted, replaced by a rename still pending): nothing to sync.
        if (r.failed == file_step::open && is_errno(r.error, ENOENT) && datasync) continue;
        if (r.failed != file_step::open) bump(s.disk.fsyncs, 1);
        note(r.error);
      }
    }
  };
  std::vector<std::string> file_paths;
  file_paths.reserve(files.size());
  for (const auto& f : files)
    file_paths.push_back(f.first);
  co_await sync_paths(std::move(file_paths), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, true);

  std::vector<std::string> dir_paths;
  for (const auto& d : dirs)
    dir_paths.push_back(detail::disk::dir_name(d.first));
  co_await sync_paths(std::move(dir_paths), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, false);
  if (root_seq != 0) {
    bump(s.disk.fsyncs, 1);
    const std::vector<int> root{s.root_fd};
    const auto results = co_await s.engine->fsync_all(root, false);
    note(results.front());
  }

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
