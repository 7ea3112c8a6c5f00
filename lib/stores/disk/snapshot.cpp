#include "stores/disk/snapshot.hpp"

#include <cstring>

#include "larder/hasher.hpp"
#include "stores/disk/format.hpp"

namespace larder::detail::disk {

namespace {

constexpr std::array<char, 8> snapshot_magic = {'L', 'R', 'D', 'R', 'I', 'N', 'D', 'X'};
constexpr std::size_t digest_size = 32;
constexpr std::uint32_t trusted_bit = 1;

std::size_t encoded_size(const snapshot& s) {
  std::size_t n = snapshot_head_size + 256 * snapshot_dir_size + digest_size;
  for (const auto& e : s.entries)
    n += snapshot_entry_head + e.key.size();
  return n;
}

}  // namespace

blob encode_snapshot(const snapshot& s) {
  blob_buffer out(encoded_size(s));
  std::byte* p = out.data();
  std::memset(p, 0, out.size());
  std::memcpy(p, snapshot_magic.data(), snapshot_magic.size());
  put_le<std::uint32_t>(p + 8, snapshot_version);
  put_le<std::uint64_t>(p + 16, static_cast<std::uint64_t>(s.written_ns));
  put_le<std::uint64_t>(p + 24, s.entries.size());
  p += snapshot_head_size;
  for (const auto& d : s.dirs) {
    put_le<std::uint64_t>(p, static_cast<std::uint64_t>(d.mtime_ns));
    put_le<std::uint32_t>(p + 8, d.trusted ? trusted_bit : 0);
    p += snapshot_dir_size;
  }
  for (const auto& e : s.entries) {
    p[0] = static_cast<std::byte>(e.dir);
    put_le<std::uint32_t>(p + 4, static_cast<std::uint32_t>(e.key.size()));
    put_le<std::uint64_t>(p + 8, e.size);
    std::memcpy(p + snapshot_entry_head, e.key.data(), e.key.size());
    p += snapshot_entry_head + e.key.size();
  }
  const std::size_t body = out.size() - digest_size;
  hasher h;
  h.update(std::span<const std::byte>(out.data(), body));
  h.finalize_into(std::span<std::byte, digest_size>(out.data() + body, digest_size));
  return std::move(out).freeze();
}

std::optional<snapshot> decode_snapshot(std::span<const std::byte> bytes) {
  constexpr std::size_t fixed = snapshot_head_size + 256 * snapshot_dir_size + digest_size;
  if (bytes.size() < fixed) return std::nullopt;
  const std::byte* p = bytes.data();
  if (std::memcmp(p, snapshot_magic.data(), snapshot_magic.size()) != 0) return std::nullopt;
  if (get_le<std::uint32_t>(p + 8) != snapshot_version || get_le<std::uint32_t>(p + 12) != 0)
    return std::nullopt;
  // The digest before anything is allocated: a torn or altered file goes no further.
  const std::size_t body = bytes.size() - digest_size;
  std::array<std::byte, digest_size> digest;
  hasher h;
  h.update(bytes.first(body));
  h.finalize_into(digest);
  if (std::memcmp(digest.data(), p + body, digest_size) != 0) return std::nullopt;

  snapshot s;
  s.written_ns = static_cast<time_ns>(get_le<std::uint64_t>(p + 16));
  const auto count = get_le<std::uint64_t>(p + 24);
  if (count > (bytes.size() - fixed) / snapshot_entry_head) return std::nullopt;
  p += snapshot_head_size;
  for (auto& d : s.dirs) {
    d.mtime_ns = static_cast<time_ns>(get_le<std::uint64_t>(p));
    const auto flags = get_le<std::uint32_t>(p + 8);
    if ((flags & ~trusted_bit) != 0 || get_le<std::uint32_t>(p + 12) != 0) return std::nullopt;
    d.trusted = (flags & trusted_bit) != 0;
    p += snapshot_dir_size;
  }
  const std::byte* end = bytes.data() + body;
  s.entries.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    if (static_cast<std::size_t>(end - p) < snapshot_entry_head) return std::nullopt;
    if (p[1] != std::byte{0} || p[2] != std::byte{0} || p[3] != std::byte{0}) return std::nullopt;
    const auto key_size = get_le<std::uint32_t>(p + 4);
    if (key_size > static_cast<std::size_t>(end - p) - snapshot_entry_head) return std::nullopt;
    snapshot_entry e;
    e.dir = static_cast<std::uint8_t>(p[0]);
    e.size = get_le<std::uint64_t>(p + 8);
    e.key.assign(reinterpret_cast<const char*>(p + snapshot_entry_head), key_size);
    // An entry file is at least its header, key and footer.
    if (e.size < file_size(key_size, 0)) return std::nullopt;
    p += snapshot_entry_head + key_size;
    s.entries.push_back(std::move(e));
  }
  if (p != end) return std::nullopt;  // bytes the count does not account for
  return s;
}

std::bitset<256> dirs_to_trust(const snapshot& s,
                               const std::array<std::optional<time_ns>, 256>& now) {
  std::bitset<256> out;
  for (unsigned d = 0; d < 256; ++d)
    out[d] = s.dirs[d].trusted && now[d] && *now[d] == s.dirs[d].mtime_ns;
  return out;
}

}  // namespace larder::detail::disk
