#include "larder/disk_store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

#include "stores/disk/format.hpp"
#include "stores/disk/state.hpp"

namespace larder {

using detail::disk::bump;

namespace detail::disk {

unsigned dir_of(std::string_view name) noexcept {
  auto nibble = [](char c) -> unsigned {
    return c >= 'a' ? static_cast<unsigned>(c - 'a' + 10) : static_cast<unsigned>(c - '0');
  };
  return nibble(name[0]) << 4 | nibble(name[1]);
}

}  // namespace detail::disk

using detail::disk::is_errno;
using detail::disk::map_error;

namespace {

constexpr unsigned entry_mode = 0644;
constexpr unsigned dir_mode = 0755;

}  // namespace

// --- impl helpers ---------------------------------------------------------------------

void disk_store::impl::install_locked(std::string_view key, const std::string& path, unsigned dir,
                                      std::uint64_t size) {
  bool created = false;
  auto* n = index.upsert(key, created);
  bytes = bytes - n->size + size;
  n->size = size;
  n->dir = static_cast<std::uint8_t>(dir);
  n->generation = next_generation++;
  const auto seq = next_seq++;
  pending[path] = seq;
  dirty_dirs[dir] = seq;
}

asio::awaitable<std::error_code> disk_store::impl::ensure_dir(unsigned dir, bool force) {
  if (!force) {
    std::lock_guard lock(mutex);
    if (dirs_known.test(dir)) co_return std::error_code{};
  }
  const auto ec = co_await engine->mkdirat(root_fd, detail::disk::dir_name(dir), dir_mode);
  if (ec && !is_errno(ec, EEXIST)) co_return ec;
  std::lock_guard lock(mutex);
  dirs_known.set(dir);
  // Also on EEXIST: a concurrent put may have just created it and not yet marked the root,
  // and an extra root fsync is cheap.
  root_dirty = next_seq++;
  co_return std::error_code{};
}

void disk_store::impl::note_io_error(std::error_code ec) noexcept {
  if (ec != make_error_code(errc::cancelled)) bump(disk.io_errors);
}

// --- construction ---------------------------------------------------------------------

result<std::string> disk_store::default_root() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg && xdg[0] == '/') return std::string(xdg) + "/larder";
  const char* home = std::getenv("HOME");
  if (home && home[0] == '/') return std::string(home) + "/.cache/larder";
  return errc::no_cache_directory;
}

disk_store::impl::~impl() {
  // The descriptor is a plain directory handle: closing it cannot block on I/O, and a
  // destructor cannot await the engine.
  if (root_fd >= 0) ::close(root_fd);
}

disk_store::disk_store(std::shared_ptr<impl> state) : impl_(std::move(state)) {}

disk_store::~disk_store() {
  if (impl_) impl_->closing.store(true, std::memory_order_relaxed);
}

asio::awaitable<result<std::unique_ptr<disk_store>>> disk_store::open(
    std::shared_ptr<io_engine> engine, disk_store_options options) {
  if (!engine) co_return errc::invalid_argument;
  if (options.root.empty()) {
    auto root = default_root();
    if (!root) co_return root.error();
    options.root = std::move(*root);
  }
  if (options.root[0] != '/') co_return errc::invalid_argument;
  // A tool pointed at a mistyped or foreign path must neither create nor scan it; for an
  // existing cache the mkdirat calls below then only meet EEXIST.
  if (!options.create_root) {
    if (auto ec = co_await detail::disk::check_root(*engine, options.root)) co_return ec;
  }
  // Create the root and its parents; intermediate errors surface through the final open.
  for (std::size_t slash = options.root.find('/', 1);; slash = options.root.find('/', slash + 1)) {
    const bool last = slash == std::string::npos;
    // A local, not a ?: inside the co_await: GCC 12 mishandles temporaries there.
    std::string path = options.root.substr(0, slash);
    const auto ec = co_await engine->mkdirat(AT_FDCWD, std::move(path), dir_mode);
    if (last) {
      if (ec && !is_errno(ec, EEXIST)) co_return map_error(ec);
      break;
    }
  }
  auto fd = co_await engine->openat(AT_FDCWD, options.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!fd) co_return fd.error();
  auto state = std::make_shared<impl>(std::move(engine), std::move(options), *fd);
  // Counted among the directory's openers before anything here can change it: an opener
  // that is not would let another store save an index without its changes. Only a cache on
  // a read-only file system (which nobody can change) opens without, and never saves.
  auto joined = co_await detail::disk::presence::join(*state->engine, state->root_fd,
                                                      state->options.lock_wait_ms);
  if (joined)
    state->presence = std::move(*joined);
  else if (is_errno(joined.error(), EROFS))
    state->presence_error = joined.error();
  else
    co_return joined.error();
  // Served from now on: the index follows in the background (scan.cpp), or when something
  // first needs it.
  state->self = state;
  state->scan_executor = co_await asio::this_coro::executor;
  if (state->options.index_on_demand)
    state->scan_deferred = true;
  else
    detail::disk::start_scan(state, state->scan_executor);
  co_return std::unique_ptr<disk_store>(new disk_store(std::move(state)));
}

// --- operations -----------------------------------------------------------------------

asio::awaitable<lookup> disk_store::get(key_view key) {
  auto& s = *impl_;
  std::uint64_t generation = 0;  // 0: not indexed
  std::uint64_t expected_size = 0;
  {
    std::lock_guard lock(s.mutex);
    if (auto* n = s.index.find(key)) {
      s.index.touch(n);
      generation = n->generation;
      expected_size = n->size;
    } else if (s.indexed && !s.shared()) {
      // A complete index answers a miss without I/O, unless another opener may have put
      // the key since: then the path is read as before the index was complete.
      s.counters.add(counter::misses);
      co_return lookup::miss();
    }
  }
  const std::string k(key);  // the view need not outlive our suspensions
  const auto path = detail::disk::relative_path(detail::disk::name_of(k));
  // The scan has not reached (or not yet merged) this key's file: read the path, its size
  // unknown, so the careful way.
  if (generation == 0) co_return co_await s.read_careful(k, 0, 0, path);

  auto fault = [&s](std::error_code ec) {
    s.note_io_error(ec);
    s.counters.add(counter::errors);
    s.counters.add(counter::lookup_faults);
    return lookup::fault(ec);
  };

  // Fast path: the index knows the file's size (bounded by max_value_size when it was put
  // or scanned), so no statx: one request opens the file, reads one byte more than that
  // without waiting (RWF_NOWAIT: page-cache hits complete inline on io_uring, no kernel
  // worker) and closes it; the footer check refuses anything else. Whatever fails takes the
  // careful path: statx (a regular file of a sane size, else discarded), then a read of its
  // real size that may wait for the device. So a FIFO or device never gets a waiting read,
  // data not in the page cache is still read, and a file that a put renamed into place a
  // moment before it updated the index is not taken for corruption.
  const std::uint64_t resolve =
      s.openat2_unsupported.load(std::memory_order_relaxed) ? 0 : s.entry_resolve;
  auto fast = co_await s.engine->read_file_nowait(s.root_fd, path, s.entry_open_flags,
                                                  expected_size + 1, resolve);
  const std::error_code ec = fast.status.error;
  if (!ec) {
    bump(s.disk.bytes_read, fast.bytes.size());
    const blob file = std::move(fast.bytes).freeze();
    if (const auto range = detail::disk::verify(file.bytes(), k)) {
      s.counters.add(counter::hits);
      co_return lookup::hit(file.slice(range->offset, range->length));
    }
  } else if (fast.status.failed == file_step::open) {
    if (is_errno(ec, ENOENT)) {
      s.forget(k, generation);
      s.counters.add(counter::misses);
      co_return lookup::miss();
    }
    // ELOOP: a symlink; EXDEV: resolution would leave the root. Never followed.
    if (is_errno(ec, ELOOP) || is_errno(ec, EXDEV)) co_return co_await s.discard(k, generation);
    // Anything else but an old kernel without openat2 is a fault (cancelled included).
    if (!(resolve != 0 && (is_errno(ec, ENOSYS) || is_errno(ec, EINVAL)))) co_return fault(ec);
  } else if (is_errno(ec, EIO)) {
    co_return fault(ec);
  }
  co_return co_await s.read_careful(k, generation, expected_size, path);
}

asio::awaitable<std::error_code> disk_store::put(key_view key, blob value) {
  auto& s = *impl_;
  auto refuse = [&s](std::error_code ec) {
    s.counters.add(counter::rejected_puts);
    return ec;
  };
  // Limits first, before anything is allocated for the value.
  if (s.disabled()) co_return refuse(errc::store_disabled);
  if (key.size() > s.options.max_key_size) co_return refuse(errc::invalid_argument);
  if (value.size() > s.options.max_value_size) co_return refuse(errc::value_too_large);
  const auto size = detail::disk::file_size(key.size(), value.size());
  if (size > s.options.max_bytes) co_return refuse(errc::value_too_large);

  const std::string k(key);
  const auto name = detail::disk::name_of(k);
  const unsigned dir = detail::disk::dir_of(name);
  auto failed = [&s, &refuse](std::error_code ec) {
    s.note_io_error(ec);
    s.counters.add(counter::errors);
    return refuse(map_error(ec));
  };

  // A removal still unlinking this key's file must finish first, or its unlink would take
  // the file this put is about to install.
  const auto executor = co_await asio::this_coro::executor;
  for (;;) {
    std::shared_ptr<detail::disk::removal_waiter> waiter;
    {
      std::lock_guard lock(s.mutex);
      if (!s.unlinking_locked(k) && !s.bad_unlinking.contains(name)) {
        // From here the scan leaves this name's file alone (see remove_bad).
        if (!s.indexed) s.put_names_unindexed.insert(name);
        break;
      }
      waiter = s.add_waiter_locked(executor);
    }
    if (auto ec = co_await s.wait(std::move(waiter))) co_return refuse(ec);
  }
  // From the directory's creation to the install below, this directory is changing: a
  // save_index meanwhile does not vouch for it.
  struct change_scope {
    impl& s;
    unsigned dir;
    explicit change_scope(impl& store, unsigned d) : s(store), dir(d) {
      std::lock_guard lock(s.mutex);
      s.begin_change_locked(dir);
    }
    ~change_scope() {
      std::lock_guard lock(s.mutex);
      s.end_change_locked(dir);
    }
    change_scope(const change_scope&) = delete;
    change_scope& operator=(const change_scope&) = delete;
  } change(s, dir);
  if (auto ec = co_await s.ensure_dir(dir, false)) co_return failed(ec);

  const auto path = detail::disk::relative_path(name);
  // Unique per process and call, in the entry's own directory so the rename stays within
  // one file system; open removes any that a crash leaves behind.
  const auto temp = path + ".tmp." + std::to_string(::getpid()) + '.' +
                    std::to_string(s.temp_counter.fetch_add(1, std::memory_order_relaxed));
  constexpr int temp_flags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW;
  auto head = detail::disk::encode_header_and_key(k, value.size());
  auto foot = detail::disk::encode_footer(head, value);
  // One request: create the temp file, one writev (header and key, the caller's payload
  // blob, not copied, then the footer), close, rename over the entry. After any failure
  // the temp file is gone again and the old entry, if any, is untouched.
  std::vector<blob> parts{std::move(head), std::move(value), std::move(foot)};
  auto done = co_await s.engine->write_file(s.root_fd, temp, path, parts, temp_flags, entry_mode);
  if (done.failed == file_step::open && is_errno(done.error, ENOENT)) {
    // The fan-out directory was removed behind our back: make it again, once.
    if (auto ec = co_await s.ensure_dir(dir, true)) co_return failed(ec);
    done = co_await s.engine->write_file(s.root_fd, temp, path, std::move(parts), temp_flags,
                                         entry_mode);
  }
  if (done.error) co_return failed(done.error);
  bump(s.disk.bytes_written, size);

  detail::disk::removal victims;
  {
    std::lock_guard lock(s.mutex);
    s.install_locked(k, path, dir, size);
    victims = s.begin_removal_locked();
    s.evict_locked(victims);
  }
  s.counters.add(counter::puts);
  // The put itself succeeded: an eviction whose unlink failed keeps its entry and is counted.
  (void)co_await s.finish_removal(std::move(victims));
  // Sharing the root: now and then, what the others did counts towards the bounds too.
  if (s.shared()) co_await s.refresh_after_put(size);
  co_return std::error_code{};
}

// --- observation ----------------------------------------------------------------------

metrics_snapshot disk_store::metrics() const noexcept {
  metrics_snapshot out;
  impl_->counters.accumulate_into(out);
  std::lock_guard lock(impl_->mutex);
  out.entries = impl_->index.size();
  out.bytes = impl_->bytes;
  return out;
}

disk_store_metrics disk_store::disk_metrics() const noexcept {
  const auto& d = impl_->disk;
  auto load = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  disk_store_metrics out{metrics(),
                         load(d.corrupt),
                         load(d.io_errors),
                         load(d.bytes_read),
                         load(d.bytes_written),
                         load(d.fsyncs),
                         load(d.temp_removed),
                         impl_->engine->metrics().backend,
                         false,
                         0};
  std::lock_guard lock(impl_->mutex);
  out.index_complete = impl_->indexed;
  out.index_scan_ms = impl_->index_scan_ms;
  out.index_loaded_entries = impl_->loaded_entries;
  out.index_loaded_dirs = impl_->loaded_dirs;
  out.index_snapshot_refused = impl_->snapshot_refused;
  out.shared = impl_->shared();
  out.shared_refreshes = load(impl_->refreshes);
  out.shared_dirs_listed = load(impl_->dirs_listed);
  out.shared_found = load(impl_->shared_found);
  out.shared_gone = load(impl_->shared_gone);
  return out;
}

asio::awaitable<std::error_code> disk_store::index_ready() {
  co_return co_await impl_->wait_indexed();
}

bool disk_store::index_complete() const noexcept {
  std::lock_guard lock(impl_->mutex);
  return impl_->indexed;
}

durability_report disk_store::durability() const {
  std::lock_guard lock(impl_->mutex);
  const std::uint64_t pending = impl_->pending.size();
  const std::uint64_t entries = impl_->index.size();
  return {pending, entries > pending ? entries - pending : 0};
}

const std::string& disk_store::root() const noexcept {
  return impl_->options.root;
}

std::string disk_store::path_for(key_view key) const {
  return impl_->options.root + '/' + detail::disk::relative_path(detail::disk::name_of(key));
}

}  // namespace larder
