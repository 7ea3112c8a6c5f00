// Inspection for tools: the index as a list, a full verification pass, and the check that
// a root handed to a tool is a cache directory at all.
#include <dirent.h>
#include <fcntl.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "larder/disk_store.hpp"
#include "stores/disk/format.hpp"
#include "stores/disk/snapshot.hpp"
#include "stores/disk/state.hpp"

namespace larder {

using detail::disk::bump;
using detail::disk::is_errno;

namespace detail::disk {

namespace {

bool is_fan_out_name(std::string_view name) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && hex(name[0]) && hex(name[1]);
}

}  // namespace

asio::awaitable<std::error_code> check_root(io_engine& engine, const std::string& root) {
  auto fd = co_await engine.openat(AT_FDCWD, root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!fd) {
    if (is_errno(fd.error(), ENOTDIR)) co_return make_error_code(errc::not_a_cache_directory);
    co_return fd.error();
  }
  // readdir, as at open, is the one listing the engine cannot do.
  DIR* listing = ::fdopendir(*fd);
  if (!listing) {
    const std::error_code ec(errno, std::system_category());
    co_await engine.close(*fd);
    co_return ec;
  }
  std::error_code verdict;
  while (const dirent* e = ::readdir(listing)) {
    const std::string_view name = e->d_name;
    if (name == "." || name == "..") continue;
    // The format puts nothing but fan-out directories in the root, and the store's own
    // files (snapshot.hpp): its lock file and saved index, regular files.
    bool dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st {};
      dir = ::fstatat(::dirfd(listing), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISDIR(st.st_mode);
    }
    const bool own = name == lock_name || name == joins_name || name == snapshot_name ||
                     name == snapshot_temp_name;
    if (own && (e->d_type == DT_REG || (e->d_type == DT_UNKNOWN && !dir))) continue;
    if (!dir || !is_fan_out_name(name)) {
      verdict = make_error_code(errc::not_a_cache_directory);
      break;
    }
  }
  ::closedir(listing);
  co_return verdict;
}

}  // namespace detail::disk

std::vector<disk_entry_info> disk_store::entries() const {
  std::lock_guard lock(impl_->mutex);
  std::vector<disk_entry_info> out;
  out.reserve(impl_->index.size());
  impl_->index.for_each_by_use([&out](const detail::disk::index_node& n) {
    out.push_back({std::string(n.key()), n.size});
  });
  return out;
}

asio::awaitable<disk_verify_report> disk_store::verify(bool repair) {
  auto& s = *impl_;
  // Every entry, including those the background scan has yet to index.
  if (auto ec = co_await s.wait_indexed()) {
    disk_verify_report cancelled;
    cancelled.first_error = ec;
    co_return cancelled;
  }
  struct job {
    std::string key;
    std::uint64_t generation = 0;
    std::uint64_t size = 0;  // as indexed: a bound for files stored under larger limits
  };
  std::vector<job> work;
  {
    std::lock_guard lock(s.mutex);
    work.reserve(s.index.size());
    s.index.for_each_by_use([&work](const detail::disk::index_node& n) {
      work.push_back({std::string(n.key()), n.generation, n.size});
    });
  }
  disk_verify_report report;
  report.checked = work.size();
  auto unreadable = [&s, &report](std::error_code ec) {
    s.note_io_error(ec);
    ++report.unreadable;
    if (!report.first_error) report.first_error = ec;
  };
  for (std::size_t i = 0; i < work.size(); ++i) {
    const auto& [key, generation, indexed_size] = work[i];
    if (report.first_error == errc::cancelled) {
      ++report.unreadable;  // cancelled: no verdict for the rest either
      continue;
    }
    const auto path = detail::disk::relative_path(detail::disk::name_of(key));
    bool corrupt = false;
    auto fd = co_await s.open_entry(path);
    if (!fd) {
      // Vanished, a symlink, or beyond the root: not an entry, whatever else it is.
      corrupt = is_errno(fd.error(), ENOENT) || is_errno(fd.error(), ELOOP) ||
                is_errno(fd.error(), EXDEV);
      if (!corrupt) {
        unreadable(fd.error());
        continue;
      }
    } else {
      auto st = co_await s.engine->statx(*fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_SIZE);
      if (!st) {
        co_await s.engine->close(*fd);
        unreadable(st.error());
        continue;
      }
      if (!S_ISREG(st->stx_mode) || st->stx_size < detail::disk::file_size(key.size(), 0) ||
          st->stx_size > std::max(detail::disk::file_size(key.size(), s.options.max_value_size),
                                  indexed_size)) {
        corrupt = true;
        co_await s.engine->close(*fd);
      } else {
        auto buffer = co_await s.engine->read(*fd, st->stx_size, 0);
        co_await s.engine->close(*fd);
        if (!buffer) {
          unreadable(buffer.error());
          continue;
        }
        bump(s.disk.bytes_read, buffer->size());
        corrupt = !detail::disk::verify(buffer->bytes(), key);
      }
    }
    if (!corrupt) {
      ++report.ok;
      continue;
    }
    ++report.corrupt;
    if (!repair) continue;
    bump(s.disk.corrupt);
    // A put that replaced the entry meanwhile also replaced the bad file: leave it.
    auto removed = co_await s.remove_generation(key, generation);
    if (!removed) {
      // The unlink failed: the entry stays indexed, and the report says why.
      if (!report.first_error) report.first_error = removed.error();
    } else if (*removed) {
      ++report.removed;
    }
  }
  co_return report;
}

}  // namespace larder
