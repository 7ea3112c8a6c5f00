// Rebuilding the index in the background after open: the saved index (snapshot_io.cpp)
// stands for the fan-out directories nobody changed since it was saved; for the others,
// several coroutines list them, remove stale temp files and files that fail the header
// checks, and recover each entry's key from its header; then the findings are merged into the index
// under one lock (keys removed or put since the open keep what those did), the index is
// marked complete, its waiters are woken and eviction runs to the bounds.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <bitset>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stores/disk/format.hpp"
#include "stores/disk/recover.hpp"
#include "stores/disk/snapshot_io.hpp"
#include "stores/disk/state.hpp"

namespace larder::detail::disk {

namespace {

struct scan_state {
  explicit scan_state(std::shared_ptr<disk_store::impl> store)
      : owner(std::move(store)), s(*owner) {}
  std::shared_ptr<disk_store::impl> owner;  // the scan may outlive the disk_store
  disk_store::impl& s;
  std::atomic<unsigned> next_dir{0};
  std::bitset<256> loaded;  // directories the saved index stood for: not scanned
  std::unordered_map<std::string, std::int64_t> ranks;  // see loaded_index::ranks
  std::int64_t saved_at_ns = 0;
  std::mutex mutex;
  std::vector<found> entries;
};

asio::awaitable<void> scan_dirs(scan_state& state) {
  auto& s = state.s;
  for (unsigned d; (d = state.next_dir.fetch_add(1)) < 256;) {
    if (state.loaded[d]) continue;
    const auto dname = dir_name(d);
    // What this directory holds but the index will lack: no saved index vouches for it.
    auto incomplete = [&s, d] {
      std::lock_guard lock(s.mutex);
      s.dirs_incomplete.set(d);
    };
    auto listing = co_await list_dir(s, d);
    if (!listing.exists) continue;
    if (!listing.complete) incomplete();
    if (listing.complete || !listing.names.empty()) {
      std::lock_guard lock(s.mutex);
      s.dirs_known.set(d);
    }
    const auto& names = listing.names;
    for (const auto& name : names) {
      if (s.closing.load(std::memory_order_relaxed)) co_return;
      const auto path = dname + '/' + name;
      // What stays in the directory that the index does not hold (a temp file left alone, a
      // bad file kept) makes it one no saved index vouches for: the next open looks again.
      if (is_temp_name(name, dname)) {
        // A put that never finished because its process died: never an entry. A temp of
        // a live process (this one's puts run beside the scan) is still being written, and
        // an inspection leaves the tree as it is.
        if (!s.options.remove_invalid || !writer_is_dead(name)) {
          incomplete();
          continue;
        }
        const auto ec = co_await s.engine->unlinkat(s.root_fd, path);
        if (!ec) bump(s.disk.temp_removed);
        if (ec && !is_errno(ec, ENOENT)) incomplete();
        continue;
      }
      if (!is_entry_name(name, dname)) continue;  // not ours: leave it alone
      auto entry = co_await recover(s, path, name);
      if (entry.outcome == recovered::bad) {
        bump(s.disk.corrupt);
        bool kept = !s.options.remove_invalid;
        if (!kept) {
          const auto stem = name.substr(0, 64);  // named: GCC 12 and co_await temporaries
          kept = !co_await s.remove_bad(path, stem);
        }
        if (kept) incomplete();
      }
      if (entry.outcome == recovered::unreadable) incomplete();
      if (entry.outcome != recovered::entry) continue;
      std::lock_guard lock(state.mutex);
      state.entries.push_back(std::move(entry.value));
    }
  }
}

// Under the lock: marks the index complete (the records kept until then go) and hands back
// its waiters, to be woken once the lock is released.
std::vector<std::shared_ptr<removal_waiter>> complete_index_locked(disk_store::impl& s) {
  s.indexed = true;
  s.removed_unindexed.clear();
  s.put_names_unindexed.clear();
  return std::exchange(s.index_waiters, {});
}

void wake(std::vector<std::shared_ptr<removal_waiter>> waiters) {
  for (auto& w : waiters)
    (void)w->try_send(std::error_code{}, true);
}

// Merges what the scan found, marks the index complete, wakes its waiters, evicts to the
// bounds. Runs however the scan ended (an exception included), so that nothing waits for
// an index that never comes; what a failed scan did not find is then simply not indexed.
asio::awaitable<void> merge(scan_state& state, std::chrono::steady_clock::time_point start) {
  auto& s = state.s;
  // Newest first, each made the least recent: the oldest file ends up first in line for
  // eviction, and everything put since the open stays more recent than all of them.
  std::sort(state.entries.begin(), state.entries.end(),
            [](const found& a, const found& b) { return a.mtime_ns > b.mtime_ns; });
  // The store is gone: what the scan found (perhaps a part) must not evict anything on its
  // behalf, now that another opener may own the directory.
  const bool closing = s.closing.load(std::memory_order_relaxed);
  std::vector<std::shared_ptr<removal_waiter>> woken;
  removal victims;
  {
    std::lock_guard lock(s.mutex);
    if (closing) state.entries.clear();
    for (auto& e : state.entries) {
      // Removed since the open: the scan may have read the file before its unlink.
      if (s.removed_unindexed.contains(e.key)) continue;
      auto* n = s.index.insert_least_recent(e.key);
      if (!n) continue;  // put since the open: that put's file is the entry
      n->size = e.size;
      n->dir = e.dir;
      n->generation = s.next_generation++;
      s.bytes += e.size;
    }
    s.index_scan_ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::steady_clock::now() - start)
                                       .count());
    woken = complete_index_locked(s);
    if (!closing) {
      victims = s.begin_removal_locked();
      s.evict_locked(victims);
    }
  }
  state.entries = {};
  wake(std::move(woken));
  if (closing) co_return;
  // A failed unlink keeps its entry indexed and is counted.
  (void)co_await s.finish_removal(std::move(victims));
}

// The saved index (snapshot_io.cpp) for the directories nobody changed since it was saved.
asio::awaitable<void> load_saved(scan_state& state) {
  auto saved = co_await load_saved_index(state.s);
  state.loaded = saved.dirs;
  state.entries.reserve(saved.entries.size());
  for (auto& e : saved.entries)
    state.entries.push_back(found{std::move(e.saved.key), e.saved.size, e.used_ns, e.saved.dir});
  state.ranks = std::move(saved.ranks);
  state.saved_at_ns = saved.written_ns;
  std::lock_guard lock(state.s.mutex);
  state.s.dirs_known |= saved.dirs;
  state.s.loaded_entries = saved.entries.size();
  state.s.loaded_dirs = static_cast<unsigned>(saved.dirs.count());
  state.s.snapshot_refused = saved.refused;
}

// Files scanned that the saved index listed, unchanged since: their saved place in the order
// of use instead of their mtime (which says only when they were written).
void take_saved_order(scan_state& state) {
  if (state.ranks.empty()) return;
  for (auto& e : state.entries) {
    if (e.mtime_ns > state.saved_at_ns) continue;
    if (const auto it = state.ranks.find(e.key); it != state.ranks.end()) e.mtime_ns = it->second;
  }
  state.ranks = {};
}

asio::awaitable<void> run_scan(std::shared_ptr<scan_state> state) {
  const auto start = std::chrono::steady_clock::now();
  co_await load_saved(*state);
  const unsigned workers = std::clamp(state->s.options.scan_parallelism, 1u, 256u);
  auto executor = co_await asio::this_coro::executor;
  // Each worker reports its end here; the channel is thread-safe because the workers
  // may run on any thread of the io_context.
  auto done = std::make_shared<asio::experimental::concurrent_channel<void(std::error_code, int)>>(
      executor, workers);
  for (unsigned i = 0; i < workers; ++i)
    asio::co_spawn(
        executor, [state]() -> asio::awaitable<void> { co_await scan_dirs(*state); },
        [done](std::exception_ptr) { done->try_send(std::error_code{}, 0); });
  for (unsigned i = 0; i < workers; ++i)
    co_await done->async_receive(asio::use_awaitable);
  take_saved_order(*state);
  co_await merge(*state, start);
}

}  // namespace

void start_scan(std::shared_ptr<disk_store::impl> s, const asio::any_io_executor& executor) {
  auto state = std::make_shared<scan_state>(std::move(s));
  asio::co_spawn(executor, run_scan(state), [state](std::exception_ptr e) {
    if (!e) return;
    // Only an allocation failure can get here (I/O faults are values). Never leave the
    // index incomplete: its waiters, invalidate_prefix and eviction would wait forever.
    std::vector<std::shared_ptr<removal_waiter>> woken;
    {
      std::lock_guard lock(state->s.mutex);
      // Marked complete without what the scan found: no saved index may vouch for any of it.
      state->s.dirs_incomplete.set();
      woken = complete_index_locked(state->s);
    }
    wake(std::move(woken));
  });
}

}  // namespace larder::detail::disk
