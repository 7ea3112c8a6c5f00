#include "artifact.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace compile_cache {

namespace {

// value = the compiler's stderr, the dependency file (empty without -MD), the object;
// the first two each after an 8-byte little-endian length.
void append_sized(std::string& out, std::string_view part) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((part.size() >> (8 * i)) & 0xff));
  out.append(part);
}
bool take_sized(std::string_view& rest, std::string_view& part) {
  if (rest.size() < 8) return false;
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<std::uint64_t>(static_cast<unsigned char>(rest[static_cast<std::size_t>(i)]))
         << (8 * i);
  if (n > rest.size() - 8) return false;
  part = rest.substr(8, n);
  rest.remove_prefix(8 + n);
  return true;
}
}  // namespace

std::string encode(const std::string& err, const std::string& deps, const std::string& object) {
  std::string out;
  append_sized(out, err);
  append_sized(out, deps);
  return out + object;
}
bool decode(std::string_view value, artifacts& a) {
  if (!take_sized(value, a.err) || !take_sized(value, a.deps)) return false;
  a.object = value;
  return true;
}

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (in.bad()) return std::nullopt;
  return bytes;
}

// Next to the target, then renamed: a reader (make, the linker) never sees half a file.
bool write_atomically(const std::string& path, std::string_view bytes) {
  const std::string temp = path + ".compile_cache." + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return false;
  bool ok = true;
  for (std::size_t done = 0; ok && done < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += static_cast<std::size_t>(n);
  }
  ok = ::close(fd) == 0 && ok && std::rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) std::remove(temp.c_str());
  return ok;
}

}  // namespace compile_cache
