// Rebuilding the index at open: several coroutines list the 256 fan-out directories,
// remove stale temp files and foreign files, and recover each entry's key from its header.
#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "stores/disk/format.hpp"
#include "stores/disk/state.hpp"

namespace larder::detail::disk {

namespace {

struct found {
  std::string key;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;  // orders the rebuilt last-use ticks
};

struct scan_state {
  explicit scan_state(disk_store::impl& store) : s(store) {}
  disk_store::impl& s;
  std::atomic<unsigned> next_dir{0};
  std::mutex mutex;
  std::vector<found> entries;
};

bool is_entry_name(std::string_view name, std::string_view dir) {
  if (name.size() != 68 || !name.ends_with(".bin") || !name.starts_with(dir)) return false;
  return std::all_of(name.begin(), name.begin() + 64,
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// What the scan learnt of one entry file.
struct recovered {
  enum { entry, bad, unreadable } outcome = unreadable;
  found value;
};

// Checks an open entry file's type, header, lengths and key against its name.
asio::awaitable<recovered> read_entry(disk_store::impl& s, int fd, std::string_view name) {
  recovered out;
  auto st = co_await s.engine->statx(fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE | STATX_MTIME);
  if (!st) {
    s.note_io_error(st.error());
    co_return out;
  }
  out.outcome = recovered::bad;
  if (!S_ISREG(st->stx_mode) || st->stx_size < header_size + footer_size) co_return out;
  auto head = co_await s.engine->read(fd, header_size, 0);
  if (!head) {
    s.note_io_error(head.error());
    out.outcome = recovered::unreadable;
    co_return out;
  }
  const auto h = decode_header(head->bytes());
  if (!h || h->key_length > s.options.max_key_size ||
      h->payload_length > s.options.max_value_size ||
      st->stx_size != file_size(h->key_length, h->payload_length))
    co_return out;
  auto key = co_await s.engine->read(fd, h->key_length, header_size);
  if (!key) {
    s.note_io_error(key.error());
    out.outcome = recovered::unreadable;
    co_return out;
  }
  bump(s.disk.bytes_read, header_size + key->size());
  std::string k(reinterpret_cast<const char*>(key->data()), key->size());
  // A file whose key does not hash to its name is foreign.
  if (k.size() != h->key_length || name_of(k) != name.substr(0, 64)) co_return out;
  out.outcome = recovered::entry;
  out.value = found{std::move(k), st->stx_size,
                    st->stx_mtime.tv_sec * 1'000'000'000ll + st->stx_mtime.tv_nsec};
  co_return out;
}

// Reads just the header and key of one entry file; the footer is left to get, which
// verifies the whole file before returning anything. Only a file whose bytes were read and
// found wrong (or a symlink, or not a regular file) is `bad`, and so removed: an I/O error
// or a cancellation leaves the file alone (`unreadable`).
asio::awaitable<recovered> recover(disk_store::impl& s, const std::string& path,
                                   std::string_view name) {
  recovered out;
  auto fd = co_await s.open_entry(path);
  if (!fd) {
    if (is_errno(fd.error(), ELOOP) || is_errno(fd.error(), EXDEV)) out.outcome = recovered::bad;
    if (out.outcome != recovered::bad) s.note_io_error(fd.error());
    co_return out;
  }
  out = co_await read_entry(s, *fd, name);
  co_await s.engine->close(*fd);
  co_return out;
}

asio::awaitable<void> scan_dirs(scan_state& state) {
  auto& s = state.s;
  for (unsigned d; (d = state.next_dir.fetch_add(1)) < 256;) {
    const auto dname = dir_name(d);
    auto fd = co_await s.engine->openat(s.root_fd, dname,
                                        O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (!fd) continue;  // not created yet, or not a directory of ours
    // readdir is the one system call allowed outside the engine: io_uring has no getdents.
    DIR* listing = ::fdopendir(*fd);
    if (!listing) {
      co_await s.engine->close(*fd);
      continue;
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(listing))
      names.emplace_back(e->d_name);
    ::closedir(listing);
    {
      std::lock_guard lock(s.mutex);
      s.dirs_known.set(d);
    }
    for (const auto& name : names) {
      const auto path = dname + '/' + name;
      if (name.find(".tmp.") != std::string::npos) {
        if (!s.options.remove_invalid) continue;  // an inspection leaves the tree as it is
        // A put that never finished (its process died): never an entry.
        const auto ec = co_await s.engine->unlinkat(s.root_fd, path);
        if (!ec) bump(s.disk.temp_removed);
        continue;
      }
      if (!is_entry_name(name, dname)) continue;  // not ours: leave it alone
      auto entry = co_await recover(s, path, name);
      if (entry.outcome == recovered::bad) {
        bump(s.disk.corrupt);
        if (s.options.remove_invalid) co_await s.engine->unlinkat(s.root_fd, path);
      }
      if (entry.outcome != recovered::entry) continue;
      std::lock_guard lock(state.mutex);
      state.entries.push_back(std::move(entry.value));
    }
  }
}

}  // namespace

asio::awaitable<void> scan(disk_store::impl& s) {
  scan_state state(s);
  const unsigned workers = std::clamp(s.options.scan_parallelism, 1u, 256u);
  auto executor = co_await asio::this_coro::executor;
  // Each worker reports its end here; the channel is thread-safe because the workers
  // may run on any thread of the io_context.
  asio::experimental::concurrent_channel<void(std::error_code, int)> done(executor, workers);
  for (unsigned i = 0; i < workers; ++i)
    asio::co_spawn(executor, scan_dirs(state),
                   [&done](std::exception_ptr) { done.try_send(std::error_code{}, 0); });
  for (unsigned i = 0; i < workers; ++i)
    co_await done.async_receive(asio::use_awaitable);

  // Oldest files first, so eviction after a restart still prefers the least recent.
  std::sort(state.entries.begin(), state.entries.end(),
            [](const found& a, const found& b) { return a.mtime_ns < b.mtime_ns; });
  std::lock_guard lock(s.mutex);
  for (auto& e : state.entries) {
    bool created = false;
    auto* n = s.index.upsert(e.key, created);
    if (!created) continue;
    n->size = e.size;
    n->generation = s.next_generation++;
    s.bytes += e.size;
  }
}

}  // namespace larder::detail::disk
