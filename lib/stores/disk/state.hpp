// disk_store's shared state: the index, the flush bookkeeping and the counters.
#pragma once

#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <atomic>
#include <bitset>
#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "larder/disk_store.hpp"
#include "larder/io_engine.hpp"
#include "larder/metrics.hpp"
#include "stores/disk/dir_sync.hpp"
#include "stores/disk/index.hpp"
#include "stores/disk/presence.hpp"

namespace larder {

namespace detail::disk {

// Disk-only counters, relaxed atomics like metric_counters.
struct disk_counters {
  std::atomic<std::uint64_t> corrupt{0}, io_errors{0}, bytes_read{0}, bytes_written{0}, fsyncs{0},
      temp_removed{0};
};

inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.fetch_add(n, std::memory_order_relaxed);
}

inline bool is_errno(std::error_code ec, int value) noexcept {
  return ec.category() == std::system_category() && ec.value() == value;
}

// ENOSPC becomes larder's own code so callers can tell "full" from other faults.
inline std::error_code map_error(std::error_code ec) noexcept {
  if (is_errno(ec, ENOSPC) || is_errno(ec, EDQUOT)) return make_error_code(errc::no_space);
  return ec;
}

// "ab" for fan-out directory 0xab.
inline std::string dir_name(unsigned dir) {
  static constexpr char digits[] = "0123456789abcdef";
  return {digits[dir >> 4], digits[dir & 15]};
}

// The fan-out directory of a 64-hex name (its first byte).
unsigned dir_of(std::string_view name) noexcept;

// An entry taken out of the index whose file is still to be unlinked: enough to put it back
// if the unlink fails, so that the index never forgets a file that is still there.
struct taken_entry {
  std::string key;
  std::string path;  // relative to the root
  unsigned dir = 0;
  std::uint64_t size = 0;
  bool was_pending = false;  // installed since the last flush
  // Not indexed: an erase before the index was complete, unlinking the key's path in case
  // the scan has yet to find (or has found but not yet merged) its file.
  bool unindexed = false;
};

// One removal in flight (erase, invalidate_prefix, eviction, discard): what it took, in the
// order removals began (flush waits for the ones that began before it).
struct removal {
  std::uint64_t id = 0;
  std::vector<taken_entry> entries;
};

// Woken (once) when some removal finishes; the waiter then checks again.
using removal_waiter = asio::experimental::concurrent_channel<void(std::error_code, bool)>;

}  // namespace detail::disk

struct disk_store::impl {
  impl(std::shared_ptr<io_engine> e, disk_store_options o, int fd)
      : engine(std::move(e)), options(std::move(o)), root_fd(fd) {}
  ~impl();
  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  std::shared_ptr<io_engine> engine;
  disk_store_options options;
  int root_fd;  // O_DIRECTORY; every path below is relative to it
  std::atomic<std::uint64_t> temp_counter{0};

  metric_counters counters;
  detail::disk::disk_counters disk;

  // Guards everything below. Never held across a co_await: operations copy what they need,
  // release it, do their I/O, and come back to publish.
  mutable std::mutex mutex;
  // Ordered by key bytes so that invalidate_prefix walks only the matching range; also
  // keeps last-use order for eviction.
  detail::disk::disk_index index;
  std::uint64_t next_generation = 1;
  std::uint64_t bytes = 0;
  // Flush bookkeeping: each change carries a sequence number; a flush clears only what it
  // synced, so a put that lands during a flush stays pending for the next one.
  std::uint64_t next_seq = 1;
  std::map<std::string, std::uint64_t> pending;  // relative path -> seq of its install
  std::array<std::uint64_t, 256> dirty_dirs{};   // 0: clean
  std::uint64_t root_dirty = 0;
  std::bitset<256> dirs_known;  // fan-out directories known to exist
  // Removals in flight: their ids, and the keys whose files they are unlinking (a count per
  // key, ordered so that a prefix finds its range). An erase, invalidate_prefix or put that
  // meets one of its keys here waits for it; so does a flush for every removal begun before
  // it. Waiters are woken all together whenever a removal finishes.
  std::uint64_t next_removal = 1;
  std::set<std::uint64_t> removals_in_flight;
  std::map<std::string, unsigned, std::less<>> unlinking;
  std::vector<std::shared_ptr<detail::disk::removal_waiter>> removal_waiters;
  // The background scan (scan.cpp). Until `indexed`, the index holds only what this store
  // put, so gets it cannot answer read the path, erases of unknown keys unlink the path,
  // and eviction, invalidate_prefix and verify wait (index_waiters, woken together when the
  // scan has merged its findings). A key removed meanwhile is noted in `removed_unindexed`:
  // the scan may already have read its file, and must not bring it back into the index.
  bool indexed = false;
  std::uint64_t index_scan_ms = 0;
  std::set<std::string, std::less<>> removed_unindexed;
  // Names (64 hex) of the files this store put before the index was complete, and of the
  // bad files the scan is unlinking: a put waits for the unlink of its name, and the scan
  // never unlinks a name a put has begun to write (it might take the put's good file).
  std::set<std::string, std::less<>> put_names_unindexed;
  std::set<std::string, std::less<>> bad_unlinking;
  std::vector<std::shared_ptr<detail::disk::removal_waiter>> index_waiters;
  // Set by ~disk_store: the scan stops at its next file.
  std::atomic<bool> closing{false};
  // index_on_demand: the scan waits for the first wait_indexed(), on the opener's executor.
  bool scan_deferred = false;
  asio::any_io_executor scan_executor;
  std::weak_ptr<impl> self;  // for starting it then (the scan holds the state)

  // For save_index (snapshot_io.cpp). Each change to a fan-out directory (a put's write and
  // rename, a removal's unlinks) is counted in `dir_changes` when it begins and when it
  // ends, and is in `dir_busy` meanwhile: a save vouches only for directories in which none
  // was running and none began while it read their mtimes and copied the index.
  // `dirs_incomplete`: directories holding a file that the index lacks (the scan could not
  // read it, or an unindexed erase's unlink failed), never vouched for.
  std::array<std::uint32_t, 256> dir_busy{};
  std::array<std::uint64_t, 256> dir_changes{};
  std::bitset<256> dirs_incomplete;
  // This store's share of `<root>/larder.lock`; not joined on a read-only cache.
  detail::disk::presence presence;
  std::error_code presence_error;  // why it is not joined
  // How the index was rebuilt: entries and directories taken from the saved index, and
  // whether a saved index was there but refused (torn, altered, another version).
  std::uint64_t loaded_entries = 0;
  unsigned loaded_dirs = 0;
  bool snapshot_refused = false;
  void begin_change_locked(unsigned dir) noexcept {
    ++dir_busy[dir];
    ++dir_changes[dir];
  }
  void end_change_locked(unsigned dir) noexcept {
    --dir_busy[dir];
    ++dir_changes[dir];
  }

  // Sharing the root (sharing.cpp, dir_sync.hpp). One refresh runs at a time; `sync` is
  // the running one's (never touched without `refreshing` set by the caller that set it).
  // Puts count what they added since the last refresh; the counters below are metrics.
  detail::disk::dir_sync sync;
  bool refreshing = false;
  std::vector<std::shared_ptr<detail::disk::removal_waiter>> refresh_waiters;
  std::uint64_t bytes_since_refresh = 0;
  std::uint64_t puts_since_refresh = 0;
  std::atomic<std::uint64_t> refreshes{0}, dirs_listed{0}, shared_found{0}, shared_gone{0};
  // Whether another store may have changed the directory since this one joined.
  bool shared() const noexcept { return presence.shared(); }
  // Lists the fan-out directories changed since the last refresh and takes into the index
  // what other openers put there and out of it what they removed, then evicts to the
  // bounds. Waits for the index first. `forced`: runs after any refresh already running
  // (a caller that needs everything done before it began); otherwise returns at once when
  // one is running. The first listing error is returned (that directory is listed again).
  asio::awaitable<std::error_code> refresh(bool forced);
  // After a put of `size` bytes: a refresh when the puts since the last one reached
  // refresh_due's share of the bounds, and another opener shares the root.
  asio::awaitable<void> refresh_after_put(std::uint64_t size);
  // A get that found `key`'s file by its path although the index lacks it (another opener
  // put it): indexes it, unless a change of this store to the key is under way.
  void adopt(std::string_view key, std::uint64_t size);

  bool disabled() const noexcept { return options.max_bytes == 0; }

  // Under the lock: starts a removal (registered as in flight until finish_removal).
  detail::disk::removal begin_removal_locked();
  // Under the lock: takes the entry out of the index into `r`, its key marked as unlinking.
  void take_locked(detail::disk::removal& r, detail::disk::index_node* n);
  // Under the lock, before the index is complete: a removal of `key`'s path although the
  // index does not hold it (the scan may), its key marked as unlinking.
  void take_unindexed_locked(detail::disk::removal& r, std::string_view key);
  // Unlinks what `r` took (a missing file is fine), then, under the lock, marks the fan-out
  // directories for the next flush, puts back every entry whose unlink failed (unless a
  // newer put replaced it), ends the removal and wakes the waiters. Returns the first
  // failure (counted as an I/O error), or nothing; `unlinked`, when given, receives how many
  // unlinks removed a file (not ENOENT).
  asio::awaitable<std::error_code> finish_removal(detail::disk::removal r,
                                                  std::uint64_t* unlinked = nullptr);
  // Under the lock: whether `key`'s file is being unlinked, or any with `prefix`.
  bool unlinking_locked(std::string_view key) const;
  bool unlinking_prefix_locked(std::string_view prefix) const;
  // Under the lock: whether a removal that began before `id` is still in flight.
  bool removal_before_locked(std::uint64_t id) const;
  // Under the lock: a waiter that the next finished removal wakes.
  std::shared_ptr<detail::disk::removal_waiter> add_waiter_locked(const asio::any_io_executor& ex);
  // Waits for that wake-up; errc::cancelled when the caller was cancelled meanwhile.
  static asio::awaitable<std::error_code> wait(std::shared_ptr<detail::disk::removal_waiter> w);
  // Under the lock: records a file just installed under `key`.
  void install_locked(std::string_view key, const std::string& path, unsigned dir,
                      std::uint64_t size);
  // The scan's removal of a file at `path` (named `name`) that failed its checks, unless a
  // put of that name has begun; put waits for it meanwhile. False when the bad file stays
  // (its unlink failed).
  asio::awaitable<bool> remove_bad(const std::string& path, std::string_view name);
  // Under the lock, before the index is complete: notes that `key` was removed.
  void note_removed_locked(std::string_view key);
  // Until the index is complete: waits for it; errc::cancelled when cancelled meanwhile.
  asio::awaitable<std::error_code> wait_indexed();
  // Under the lock: evicts least recently used entries until the bounds hold, taking them
  // into `out`. Counts evictions. Does nothing until the index is complete.
  void evict_locked(detail::disk::removal& out);

  // Makes fan-out directory `dir` unless known to exist (or `force`), marking the root dirty.
  asio::awaitable<std::error_code> ensure_dir(unsigned dir, bool force);
  // Forgets the entry (whose file is gone) unless a newer put replaced it meanwhile; true
  // when it did.
  bool forget(const std::string& key, std::uint64_t generation);
  // Removes the entry and its file unless a newer put replaced it meanwhile; true when it
  // was removed, and the unlink's failure if that failed (the entry then stays indexed).
  asio::awaitable<result<bool>> remove_generation(const std::string& key, std::uint64_t generation);
  // A file that is not a verified entry of `key`: counts it, removes it, reports a miss.
  asio::awaitable<lookup> discard(const std::string& key, std::uint64_t generation);
  // Opens an entry for reading without following symlinks or blocking on a FIFO.
  asio::awaitable<result<int>> open_entry(const std::string& path);
  /// A get's slow path: open, statx, a read that may wait, close; discards what is not an
  /// intact regular file of a sane size.
  asio::awaitable<lookup> read_careful(const std::string& key, std::uint64_t generation,
                                       std::uint64_t indexed_size, const std::string& path);
  // O_NONBLOCK: a FIFO planted at an entry's path opens at once instead of waiting for a
  // writer, and is then refused (no waiting read, and the regular-file check). The
  // resolution stays beneath the root and follows no symlink.
  static constexpr int entry_open_flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  static constexpr std::uint64_t entry_resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
  // Counts an I/O fault (not a cancellation) in the disk counters.
  void note_io_error(std::error_code ec) noexcept;

  std::atomic<bool> openat2_unsupported{false};
};

namespace detail::disk {
// Rebuilds the index of a freshly opened store in the background (scan.cpp): started by open,
// on `executor`; the scan holds `s` until it ends.
void start_scan(std::shared_ptr<disk_store::impl> s, const asio::any_io_executor& executor);
// For disk_store_options::create_root == false: ENOENT when `root` is missing,
// errc::not_a_cache_directory when it holds anything but fan-out directories (inspect.cpp).
asio::awaitable<std::error_code> check_root(io_engine& engine, const std::string& root);
}  // namespace detail::disk

}  // namespace larder
