#include "stores/disk/recover.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include "stores/disk/format.hpp"

namespace larder::detail::disk {

namespace {

bool is_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}
bool is_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

bool is_entry_name(std::string_view name, std::string_view dir) {
  return name.size() == 68 && name.ends_with(".bin") && name.starts_with(dir) &&
         is_hex(name.substr(0, 64));
}

bool is_temp_name(std::string_view name, std::string_view dir) {
  if (name.size() < 68 + 7 || !is_entry_name(name.substr(0, 68), dir)) return false;
  auto rest = name.substr(68);
  if (!rest.starts_with(".tmp.")) return false;
  rest.remove_prefix(5);
  const auto dot = rest.find('.');
  return dot != std::string_view::npos && is_digits(rest.substr(0, dot)) &&
         is_digits(rest.substr(dot + 1));
}

// The scan runs beside this process's own puts, and maybe other processes' on the same root.
bool writer_is_dead(std::string_view name) {
  auto rest = name.substr(68 + 5);
  const auto digits = rest.substr(0, rest.find('.'));
  if (digits.size() > 9) return true;  // beyond any pid_max
  const auto pid = static_cast<pid_t>(std::stol(std::string(digits)));
  if (pid <= 0) return true;
  if (pid == ::getpid()) return false;
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

namespace {

// Header checks shared by both ways of reading one: the fixed fields, the file's size
// against the lengths it claims (so no length is trusted beyond the bytes really there).
// The store's limits are not applied: they bound puts, and an entry that another opener
// with larger limits stored is an entry all the same.
std::optional<header> plausible_header(std::span<const std::byte> bytes, std::uint64_t file_bytes) {
  const auto h = decode_header(bytes);
  // Each length within the file first, so that the sum below cannot wrap.
  if (!h || h->key_length > file_bytes || h->payload_length > file_bytes ||
      file_bytes != file_size(h->key_length, h->payload_length))
    return std::nullopt;
  return h;
}

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
  const auto h = plausible_header(head->bytes(), st->stx_size);
  if (!h) co_return out;
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
                    st->stx_mtime.tv_sec * 1'000'000'000ll + st->stx_mtime.tv_nsec,
                    static_cast<std::uint8_t>(dir_of(name))};
  co_return out;
}

// The bytes the quick read takes: the header and a key of up to this many bytes.
constexpr std::size_t quick_key_bytes = 488;

// Two requests instead of five: statx of the path (not following a symlink), then one
// request that opens, reads the head without waiting and closes. Settles nothing (nullopt)
// when the head is not in the page cache, the key is longer than the read, or openat2 is
// missing: the careful way then decides.
asio::awaitable<std::optional<recovered>> recover_quick(disk_store::impl& s,
                                                        const std::string& path,
                                                        std::string_view name) {
  if (s.openat2_unsupported.load(std::memory_order_relaxed)) co_return std::nullopt;
  auto st = co_await s.engine->statx(s.root_fd, path, AT_SYMLINK_NOFOLLOW,
                                     STATX_TYPE | STATX_SIZE | STATX_MTIME);
  if (!st) {
    if (is_errno(st.error(), ENOENT)) co_return recovered{};  // gone since the listing
    co_return std::nullopt;
  }
  // The statx and the read may meet two different files (a put renamed one in between), so
  // this way only ever accepts; a verdict of `bad` is left to the careful way, which reads
  // one open file.
  if (!S_ISREG(st->stx_mode) || st->stx_size < header_size + footer_size) co_return std::nullopt;
  auto head = co_await s.engine->read_file_nowait(s.root_fd, path, s.entry_open_flags,
                                                  header_size + quick_key_bytes, s.entry_resolve);
  if (head.status.error) co_return std::nullopt;
  const auto bytes = std::span<const std::byte>(head.bytes.data(), head.bytes.size());
  if (bytes.size() < header_size) co_return std::nullopt;
  const auto h = plausible_header(bytes.first(header_size), st->stx_size);
  if (!h || bytes.size() < header_size + h->key_length) co_return std::nullopt;
  std::string k(reinterpret_cast<const char*>(bytes.data() + header_size), h->key_length);
  if (name_of(k) != name.substr(0, 64)) co_return std::nullopt;
  bump(s.disk.bytes_read, bytes.size());
  recovered out;
  out.outcome = recovered::entry;
  out.value = found{std::move(k), st->stx_size,
                    st->stx_mtime.tv_sec * 1'000'000'000ll + st->stx_mtime.tv_nsec,
                    static_cast<std::uint8_t>(dir_of(name))};
  co_return out;
}

}  // namespace

asio::awaitable<recovered> recover(disk_store::impl& s, const std::string& path,
                                   std::string_view name) {
  if (auto quick = co_await recover_quick(s, path, name)) co_return std::move(*quick);
  recovered out;
  auto fd = co_await s.open_entry(path);
  if (!fd) {
    if (is_errno(fd.error(), ELOOP) || is_errno(fd.error(), EXDEV)) out.outcome = recovered::bad;
    if (out.outcome != recovered::bad && !is_errno(fd.error(), ENOENT)) s.note_io_error(fd.error());
    co_return out;
  }
  out = co_await read_entry(s, *fd, name);
  co_await s.engine->close(*fd);
  co_return out;
}

asio::awaitable<dir_listing> list_dir(disk_store::impl& s, unsigned dir) {
  dir_listing out;
  auto fd = co_await s.engine->openat(s.root_fd, dir_name(dir),
                                      O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (!fd) {
    // Not created yet is the one harmless reason; a directory of ours unreadable is not.
    out.exists = !is_errno(fd.error(), ENOENT);
    if (out.exists) out.error = fd.error();
    co_return out;
  }
  out.exists = true;
  DIR* listing = ::fdopendir(*fd);
  if (!listing) {
    out.error = std::error_code(errno, std::system_category());
    co_await s.engine->close(*fd);
    co_return out;
  }
  errno = 0;  // readdir tells its end from a failure only by errno
  while (const dirent* e = ::readdir(listing))
    out.names.emplace_back(e->d_name);
  out.complete = errno == 0;
  if (!out.complete) out.error = std::error_code(errno, std::system_category());
  ::closedir(listing);
  co_return out;
}

}  // namespace larder::detail::disk
