// disk_store: the persistent tier, one verified file per entry under a fan-out directory tree.
#pragma once

#include <asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "larder/blob.hpp"
#include "larder/io_engine.hpp"
#include "larder/lookup.hpp"
#include "larder/metrics.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"

namespace larder {

struct disk_store_options {
  /// The cache directory; created (with its parents) when missing. Empty: default_root().
  std::string root{};
  /// Capacity bound on the files' total size (header, key, payload, footer). Enforced after
  /// each put by evicting approximately least recently used entries. 0 disables the store.
  std::uint64_t max_bytes = 1ull << 30;
  /// Optional bound on the number of entries; 0 means no bound.
  std::uint64_t max_entries = 0;
  /// Larger values are refused with errc::value_too_large before anything is allocated.
  /// Like max_key_size it bounds puts only: an entry on disk that another opener with larger
  /// limits stored is indexed and served all the same.
  std::size_t max_value_size = 64ull << 20;
  /// Longer keys are refused with errc::invalid_argument.
  std::size_t max_key_size = 65535;
  /// Coroutines that rebuild the index after open, each taking fan-out directories in turn.
  unsigned scan_parallelism = 8;
  /// false (for tools that inspect an existing cache): open neither creates the root nor
  /// adopts a directory that is not a cache. The root must exist (else ENOENT, as an errno
  /// code) and hold nothing but fan-out directories (else errc::not_a_cache_directory).
  bool create_root = true;
  /// false (for inspection without side effects): open leaves stale temp files and files that
  /// fail its checks where they are. They are still counted (corrupt_entries) and not indexed.
  bool remove_invalid = true;
  /// Rebuild the index from the one save_index() left, for every fan-out directory nobody
  /// has changed since (the rest are scanned). false: scan every directory.
  bool use_saved_index = true;
  /// Rebuild the index only once something needs it (index_ready, invalidate_prefix, verify,
  /// save_index), not from the open on: for a short process that mostly gets, such as a
  /// compiler wrapper serving a hit, which then never pays for it. Until then gets read their
  /// paths, erases unlink them, and the capacity bound is not enforced.
  bool index_on_demand = false;
  /// How long open waits for another store's save_index() to release the directory's lock
  /// file (it holds it for the few milliseconds of a save); then errc::timed_out.
  unsigned lock_wait_ms = 10'000;
};

/// One entry of the index, as entries() lists it.
struct disk_entry_info {
  std::string key;
  std::uint64_t size = 0;  ///< the whole file: header, key, payload, footer
};

/// What verify() found. Every indexed entry lands in exactly one of ok, corrupt, unreadable.
struct disk_verify_report {
  std::uint64_t checked = 0;     ///< entries looked at
  std::uint64_t ok = 0;          ///< read in full and verified (header, key, lengths, footer)
  std::uint64_t corrupt = 0;     ///< failed verification, vanished, or not a regular file
  std::uint64_t removed = 0;     ///< corrupt entries removed (only with `repair`)
  std::uint64_t unreadable = 0;  ///< an I/O error prevented a verdict; never removed
  std::error_code first_error;   ///< the first of those I/O errors
};

/// What flush has made durable. `pending`: entries installed since the last successful flush
/// (they may be lost in a crash); `durable`: the other entries of the index.
struct durability_report {
  std::uint64_t pending = 0;
  std::uint64_t durable = 0;
};

/// The shared counters plus what only a disk tier has.
struct disk_store_metrics {
  metrics_snapshot store;
  std::uint64_t corrupt_entries = 0;       ///< files that failed verification and were removed
  std::uint64_t io_errors = 0;             ///< system calls that failed with an I/O fault
  std::uint64_t bytes_read = 0;            ///< file bytes read by get and by the open scan
  std::uint64_t bytes_written = 0;         ///< file bytes written by put
  std::uint64_t fsyncs = 0;                ///< fsync and fdatasync requests issued by flush
  std::uint64_t temp_files_removed = 0;    ///< stale temp files removed at open
  std::string_view backend;                ///< the io engine's backend: "io_uring" or "thread_pool"
  bool index_complete = false;             ///< the background scan has finished
  std::uint64_t index_scan_ms = 0;         ///< how long it took (0 until it has)
  std::uint64_t index_loaded_entries = 0;  ///< entries taken from the saved index
  unsigned index_loaded_dirs = 0;          ///< fan-out directories it stood for (not scanned)
  bool index_snapshot_refused = false;     ///< a saved index was there but failed its checks
  /// Sharing the root with other openers (docs/disk-format.md, "Sharing a root"):
  bool shared = false;                   ///< another store may have changed the directory
  std::uint64_t shared_refreshes = 0;    ///< looks at what the others did
  std::uint64_t shared_dirs_listed = 0;  ///< fan-out directories those listed
  std::uint64_t shared_found = 0;        ///< entries of other openers taken into the index
  std::uint64_t shared_gone = 0;         ///< indexed entries others removed, forgotten
};

/// A persistent store: `<root>/<2 hex>/<64 hex>.bin` per entry, named by the BLAKE3 of the
/// key; the format is in docs/disk-format.md. Every file operation goes through the
/// io_engine, so no blocking file system call runs on a caller's executor (the directory
/// listing at open, readdir, is the one exception).
///
/// An in-memory index (key, size, last use) answers misses without I/O and serves erase,
/// invalidate_prefix, eviction and the stats. open() does not wait for it: a get needs no
/// index (the path follows from the key), so the store serves at once while the index is
/// rebuilt in the background (index_ready()), from the index save_index() left where it can.
/// Several stores, in this process or others, may share one root (as ccache's processes share
/// theirs): each sees what another put at latest on its next get of that key (a miss looks
/// at the path once another opener has joined), an erase or invalidate_prefix anywhere
/// removes the files for all, and each looks at the directories the others changed before
/// an invalidate_prefix and after every fortieth of its bounds it puts, so that the bounds
/// hold across all of them within 10% (docs/disk-format.md, "Sharing a root").
///
/// Completion: every operation resumes the caller on its own executor. Errors are values.
/// Cancellation: an operation cancelled through its slot completes with errc::cancelled (or
/// an I/O error); a cancelled put may still have installed its file, a cancelled get never
/// returns bytes it did not verify. Lifetimes: the store must outlive every operation on it;
/// keys and prefixes are views that must stay valid until the co_await completes; values are
/// blobs held by the operation. Safe to use from coroutines on several threads at once.
class disk_store {
 public:
  static constexpr std::size_t header_size = 24;
  static constexpr std::size_t footer_size = 32;

  /// `$XDG_CACHE_HOME/larder`, else `$HOME/.cache/larder`; errc::no_cache_directory when
  /// neither variable names an absolute path.
  static result<std::string> default_root();

  /// Creates the root if needed and opens it; completes with the store, or with the error
  /// that prevented opening the root (errc::no_cache_directory, an errno code) or counting
  /// this store among its openers (`<root>/larder.lock`, docs/disk-format.md: an errno code,
  /// errc::timed_out after lock_wait_ms), without reading any entry. `engine` is kept alive by the
  /// store. The index is then rebuilt in the background on the caller's executor: from the index
  /// the last save_index() left, for every fan-out directory unchanged since (use_saved_index), and
  /// for the others by a scan: those directories are listed in parallel, stale temp files and files
  /// that fail the header checks are removed (counted), and every entry's key is recovered from its
  /// header. A file the scan cannot read (an I/O
  /// error) is neither indexed nor removed. Until the index is complete (index_ready()):
  /// a get that the index cannot answer reads the entry's path; an erase of a key not yet
  /// indexed unlinks its path; invalidate_prefix and verify() wait for it (they need every
  /// match); eviction waits for it too, so the capacity bound is enforced
  /// from then on, and the puts admitted meanwhile count towards it. Destroying the store
  /// stops the scan at its next file; the scan keeps the store's state (and the engine)
  /// alive until its requests have completed, so its executor must keep running until then,
  /// or be destroyed (which destroys the scan without resuming it).
  static asio::awaitable<result<std::unique_ptr<disk_store>>> open(
      std::shared_ptr<io_engine> engine, disk_store_options options = {});

  ~disk_store();
  disk_store(const disk_store&) = delete;
  disk_store& operator=(const disk_store&) = delete;

  /// Hit (the payload as a slice of the file buffer, no copy), miss, or fault (I/O error).
  /// A file that fails verification (header, key, lengths, footer), is not a regular
  /// file, or is reached through a symlink is counted, removed, and reported as a miss.
  asio::awaitable<lookup> get(key_view key);

  /// Writes a temp file with one writev, then renames it over the entry: readers see the
  /// old or the new complete file. Errors: errc::value_too_large, errc::invalid_argument
  /// (key too long), errc::store_disabled, errc::no_space (ENOSPC), or the errno code; the
  /// temp file is removed on failure and the old entry, if any, stays readable.
  asio::awaitable<std::error_code> put(key_view key, blob value);

  /// Removes the entry; true when the index held it (before the index is complete, or when
  /// another opener shares the root: when its file was there). Completes once the file's unlink has
  /// completed (a flush after that makes the removal durable). A removal of the same key
  /// still in flight (another erase, an invalidate_prefix, an eviction) is waited for first,
  /// so even `false` means the file is gone. A failed unlink is returned as the error and the
  /// entry stays indexed. Cancelled while waiting: errc::cancelled, nothing removed.
  asio::awaitable<result<bool>> erase(key_view key);

  /// Waits for every removal begun before it, then fdatasyncs every file installed since the
  /// last successful flush, then fsyncs each directory that received one or lost one to a
  /// completed removal (and the root when a fan-out directory was created), as batched
  /// requests. On an error the entries stay pending and the error is returned.
  asio::awaitable<std::error_code> flush();

  /// Removes every entry whose key starts with `prefix` (byte prefix); cost grows with
  /// the matches (an ordered index). Returns how many went, once all their unlinks have
  /// completed; removals in flight of keys with that prefix are waited for first (so a
  /// second call that finds nothing left still returns only after the first's unlinks). An
  /// unlink that fails keeps its entry indexed and the call returns that error. Before all
  /// that it waits for the index (index_ready()), so that entries on disk from before the
  /// open are matched too; cancelled while waiting: errc::cancelled, nothing removed. When
  /// another opener shares the root it first lists the fan-out directories changed since it
  /// last looked and indexes what the others put there (so their matches go too); a listing
  /// that fails is returned as the error, before anything is removed.
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix);

  /// Completes once the background scan has finished and the index holds every entry that
  /// was on disk when the store opened (and evictions to the bound have run); at once when
  /// it already does. Completion as get; cancellation: terminal, through the caller's slot,
  /// completes with errc::cancelled and leaves the scan running. The store must outlive the
  /// call.
  asio::awaitable<std::error_code> index_ready();
  /// Whether the index is complete (index_ready() would complete at once).
  bool index_complete() const noexcept;

  /// Saves the index to `<root>/larder.index`, so that the next open takes every fan-out
  /// directory unchanged since from it instead of reading its files (a restart's index is
  /// then complete in milliseconds, not seconds). Waits for the index and flushes first.
  /// Refused with errc::directory_shared when another store (in this process or another) was
  /// open when this one opened, or has had the directory open at any time since: its index
  /// would lack their entries. Directories changing while it runs, or changed within the last 100
  /// ms, are left out (the next open scans them). Call it when shutting down; the store stays
  /// usable, and what changes later is detected by the next open and scanned. Errors: the I/O
  /// error, or why the directory's lock file could not be opened at open (a read-only cache).
  /// Completion as get; cancellation: only while waiting for the index (errc::cancelled).
  /// The store must outlive the call.
  asio::awaitable<std::error_code> save_index();

  /// A snapshot of the index, least recently used first (the order eviction takes). For
  /// tools: it copies every key, so it costs memory in proportion to the index. Before
  /// index_ready() completes it lists only what is indexed so far.
  std::vector<disk_entry_info> entries() const;

  /// Waits for the index (index_ready()), then reads every entry indexed when the call began
  /// in full and checks it as get does.
  /// `repair`: a corrupt entry is counted, removed and dropped from the index, as a get would;
  /// otherwise the file and the index are left alone (the entry's next get removes it). An
  /// I/O error counts the entry unreadable and leaves it. Entries are checked one at a time.
  /// Completion and lifetimes as get; cancellation: the entry being read comes back
  /// unreadable (errc::cancelled), and so do the rest.
  asio::awaitable<disk_verify_report> verify(bool repair);

  metrics_snapshot metrics() const noexcept;
  disk_store_metrics disk_metrics() const noexcept;
  durability_report durability() const;

  /// The root directory, and where an entry's file lives (for tools and tests).
  const std::string& root() const noexcept;
  std::string path_for(key_view key) const;

  /// The implementation's state (lib/stores/disk/state.hpp); named here only for the library.
  struct impl;

 private:
  explicit disk_store(std::shared_ptr<impl> state);
  // Shared with the background scan, which may still be finishing its requests after the
  // store is destroyed.
  std::shared_ptr<impl> impl_;
};

static_assert(store<disk_store>);

}  // namespace larder
