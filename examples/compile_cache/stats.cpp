#include "stats.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>

namespace compile_cache {

namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

// "hits N\nmisses N\npassthroughs N\nerrors N\n"; unknown or garbled lines count as zero.
counters parse(const std::string& text) {
  counters c;
  unsigned long long h = 0, m = 0, p = 0, e = 0;
  if (std::sscanf(text.c_str(), "hits %llu\nmisses %llu\npassthroughs %llu\nerrors %llu", &h, &m,
                  &p, &e) == 4)
    c = {h, m, p, e};
  return c;
}

std::string read_fd(int fd) {
  std::string text;
  char buffer[256];
  off_t offset = 0;
  for (ssize_t n; (n = ::pread(fd, buffer, sizeof buffer, offset)) > 0; offset += n)
    text.append(buffer, static_cast<std::size_t>(n));
  return text;
}

}  // namespace

std::error_code record(const std::string& path, outcome what) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return last_error();
  std::error_code ec;
  if (::flock(fd, LOCK_EX) != 0) {
    ec = last_error();
    ::close(fd);
    return ec;
  }
  counters c = parse(read_fd(fd));
  switch (what) {
    case outcome::hit:
      ++c.hits;
      break;
    case outcome::miss:
      ++c.misses;
      break;
    case outcome::passthrough:
      ++c.passthroughs;
      break;
    case outcome::error:
      ++c.errors;
      break;
  }
  char text[160];
  const int n = std::snprintf(
      text, sizeof text, "hits %llu\nmisses %llu\npassthroughs %llu\nerrors %llu\n",
      static_cast<unsigned long long>(c.hits), static_cast<unsigned long long>(c.misses),
      static_cast<unsigned long long>(c.passthroughs), static_cast<unsigned long long>(c.errors));
  // Counts only grow, so the new text is never shorter; truncate anyway for a garbled file.
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text, static_cast<std::size_t>(n), 0) != n)
    ec = last_error();
  ::close(fd);  // releases the lock
  return ec;
}

std::error_code reset(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return last_error();
  std::error_code ec;
  if (::flock(fd, LOCK_EX) != 0 || ::ftruncate(fd, 0) != 0) ec = last_error();
  ::close(fd);
  return ec;
}

counters load(const std::string& path, std::error_code& ec) {
  ec.clear();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) ec = last_error();
    return {};
  }
  ::flock(fd, LOCK_SH);
  const counters c = parse(read_fd(fd));
  ::close(fd);
  return c;
}

}  // namespace compile_cache
