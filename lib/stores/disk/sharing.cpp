// Sharing a root with other openers (docs/disk-format.md, "Sharing a root"): the refresh
// that learns what they put and removed from the fan-out directories they changed, and the
// two places a get or put takes part. The decisions are dir_sync.hpp's; this file does the
// statx, the listings and the header reads, and applies what they found under the lock.
#include <sys/stat.h>

#include <array>
#include <asio/this_coro.hpp>
#include <chrono>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "larder/disk_store.hpp"
#include "stores/disk/format.hpp"
#include "stores/disk/recover.hpp"
#include "stores/disk/state.hpp"

namespace larder {

using detail::disk::bump;
using detail::disk::dir_probe;
using detail::disk::is_errno;

namespace {

detail::disk::time_ns wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What the refresh copied of one directory's part of the index, and what it then found.
struct dir_work {
  std::uint32_t busy = 0;
  std::uint64_t changes = 0;
  std::vector<std::pair<std::string, std::uint64_t>> copied;  // key, generation
  std::unordered_map<std::string, std::size_t> by_name;       // file name -> its place there
  bool listed = false;  // listed without error: may be applied
  std::vector<detail::disk::found> added;
  std::vector<std::pair<std::string, std::uint64_t>> gone;  // key, generation
};

// Ends a refresh however it leaves (an exception included) and wakes those waiting for it.
struct refresh_scope {
  disk_store::impl& s;
  ~refresh_scope() {
    std::vector<std::shared_ptr<detail::disk::removal_waiter>> woken;
    {
      std::lock_guard lock(s.mutex);
      s.refreshing = false;
      woken.swap(s.refresh_waiters);
    }
    for (auto& w : woken)
      (void)w->try_send(std::error_code{}, true);
  }
};

}  // namespace

asio::awaitable<std::error_code> disk_store::impl::refresh(bool forced) {
  // Merged into a complete index only: until then the scan is still listing everything.
  if (auto ec = co_await wait_indexed()) co_return ec;
  const auto executor = co_await asio::this_coro::executor;
  for (;;) {
    std::shared_ptr<detail::disk::removal_waiter> waiter;
    {
      std::lock_guard lock(mutex);
      if (!refreshing) {
        refreshing = true;
        bytes_since_refresh = 0;
        puts_since_refresh = 0;
        break;
      }
      if (!forced) co_return std::error_code{};
      waiter = std::make_shared<detail::disk::removal_waiter>(executor, 1);
      refresh_waiters.push_back(waiter);
    }
    if (auto ec = co_await wait(std::move(waiter))) co_return ec;
  }
  refresh_scope scope{*this};
  bump(refreshes);

  // 1. Each directory's type and mtime, the clock read first (so that "settled" errs on the
  //    side of listing again).
  const auto probed_at = wall_clock_ns();
  std::array<dir_probe, 256> probes{};
  std::error_code first;
  for (unsigned d = 0; d < 256; ++d) {
    auto st = co_await engine->statx(root_fd, detail::disk::dir_name(d), AT_SYMLINK_NOFOLLOW,
                                     STATX_TYPE | STATX_MTIME);
    if (!st) {
      probes[d].state = is_errno(st.error(), ENOENT) ? dir_probe::missing : dir_probe::unreadable;
      if (probes[d].state == dir_probe::unreadable) {
        note_io_error(st.error());
        if (!first) first = st.error();
      }
      continue;
    }
    // Anything but a directory holds no entries: nothing beneath a symlink is ever followed.
    if (!S_ISDIR(st->stx_mode)) {
      probes[d].state = dir_probe::missing;
      continue;
    }
    probes[d].state = dir_probe::directory;
    probes[d].mtime_ns = st->stx_mtime.tv_sec * 1'000'000'000ll + st->stx_mtime.tv_nsec;
  }
  std::bitset<256> known;
  {
    std::lock_guard lock(mutex);
    known = dirs_known;
  }
  const auto plan = sync.plan(probes, known);
  if (plan.none()) co_return first;

  // 2. The index's part of each planned directory, with its change counts: a listing is
  //    applied only if this store changed nothing there meanwhile.
  std::vector<dir_work> work(256);
  {
    std::lock_guard lock(mutex);
    for (unsigned d = 0; d < 256; ++d) {
      if (!plan[d]) continue;
      work[d].busy = dir_busy[d];
      work[d].changes = dir_changes[d];
    }
    index.for_each_by_use([&](const detail::disk::index_node& n) {
      if (!plan[n.dir]) return;
      work[n.dir].copied.emplace_back(std::string(n.key()), n.generation);
    });
  }
  // Named by their file names, outside the lock (one hash per key).
  for (unsigned d = 0; d < 256; ++d) {
    if (!plan[d]) continue;
    auto& w = work[d];
    for (std::size_t i = 0; i < w.copied.size(); ++i)
      w.by_name.emplace(detail::disk::name_of(w.copied[i].first), i);
  }

  // 3. List each planned directory; read the header of every file the index lacks.
  for (unsigned d = 0; d < 256; ++d) {
    if (!plan[d]) continue;
    if (probes[d].state == dir_probe::unreadable) {
      sync.listed(d, probes[d], probed_at, false);
      continue;
    }
    auto& w = work[d];
    const auto dname = detail::disk::dir_name(d);
    std::vector<std::string> listed;
    if (probes[d].state == dir_probe::directory) {
      auto listing = co_await detail::disk::list_dir(*this, d);
      if (listing.exists && !listing.complete) {
        note_io_error(listing.error);
        if (!first) first = listing.error;
        sync.listed(d, probes[d], probed_at, false);
        continue;
      }
      bump(dirs_listed);
      for (auto& name : listing.names)
        if (detail::disk::is_entry_name(name, dname)) listed.push_back(name.substr(0, 64));
    }
    std::vector<std::string> indexed;
    indexed.reserve(w.by_name.size());
    for (const auto& [name, unused] : w.by_name)
      indexed.push_back(name);
    auto diff = detail::disk::compare_listing(std::move(listed), std::move(indexed));
    for (auto& stem : diff.added) {
      if (closing.load(std::memory_order_relaxed)) co_return first;
      const auto file = stem + ".bin";
      const auto path = dname + '/' + file;
      auto r = co_await detail::disk::recover(*this, path, file);
      // A bad file is counted and left: a get of its key discards it, an open's scan too.
      if (r.outcome == detail::disk::recovered::bad) bump(disk.corrupt);
      if (r.outcome == detail::disk::recovered::entry) w.added.push_back(std::move(r.value));
    }
    for (auto& name : diff.gone)
      w.gone.push_back(std::move(w.copied[w.by_name.at(name)]));
    w.listed = true;
  }

  // 4. Apply what may be applied, then evict to the bounds across everyone's entries.
  detail::disk::removal victims;
  {
    std::lock_guard lock(mutex);
    for (unsigned d = 0; d < 256; ++d) {
      auto& w = work[d];
      if (!plan[d] || !w.listed) continue;
      const bool apply = detail::disk::may_apply(w.busy, w.changes, dir_changes[d]);
      sync.listed(d, probes[d], probed_at, apply);
      if (!apply) continue;
      // Gone (or replaced by something that is no directory): a put makes it again.
      if (probes[d].state == dir_probe::missing) dirs_known.reset(d);
      for (auto& f : w.added) {
        if (index.find(f.key) || unlinking_locked(f.key)) continue;
        bool created = false;
        auto* n = index.upsert(f.key, created);
        n->size = f.size;
        n->dir = f.dir;
        n->generation = next_generation++;
        bytes += f.size;
        bump(shared_found);
      }
      for (auto& [key, generation] : w.gone) {
        auto* n = index.find(key);
        if (!n || n->generation != generation) continue;
        pending.erase(detail::disk::relative_path(detail::disk::name_of(key)));
        bytes -= n->size;
        index.remove(n);
        bump(shared_gone);
      }
    }
    victims = begin_removal_locked();
    evict_locked(victims);
  }
  // A failed eviction keeps its entry and is counted; the refresh itself did its part.
  (void)co_await finish_removal(std::move(victims));
  co_return first;
}

asio::awaitable<void> disk_store::impl::refresh_after_put(std::uint64_t size) {
  bool due = false;
  {
    std::lock_guard lock(mutex);
    bytes_since_refresh += size;
    ++puts_since_refresh;
    due = indexed && !refreshing &&
          detail::disk::refresh_due{options.max_bytes, options.max_entries}(bytes_since_refresh,
                                                                            puts_since_refresh);
  }
  // Its faults are counted where they happen; the put itself succeeded.
  if (due) (void)co_await refresh(false);
}

void disk_store::impl::adopt(std::string_view key, std::uint64_t size) {
  std::lock_guard lock(mutex);
  if (!indexed || index.find(key) || unlinking_locked(key)) return;
  bool created = false;
  auto* n = index.upsert(key, created);
  n->size = size;
  n->dir = static_cast<std::uint8_t>(detail::disk::dir_of(detail::disk::name_of(key)));
  n->generation = next_generation++;
  bytes += size;
  bump(shared_found);
}

}  // namespace larder
