// The on-disk entry format (docs/disk-format.md): header, key, payload, BLAKE3 footer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "larder/blob.hpp"

namespace larder::detail::disk {

// Little-endian on every host, so a cache directory means the same on any machine.
template <class T>
void put_le(std::byte* out, T v) noexcept {
  for (std::size_t i = 0; i < sizeof(T); ++i)
    out[i] = static_cast<std::byte>((static_cast<std::uint64_t>(v) >> (8 * i)) & 0xff);
}
template <class T>
T get_le(const std::byte* in) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    v |= static_cast<std::uint64_t>(in[i]) << (8 * i);
  return static_cast<T>(v);
}

inline constexpr std::array<char, 4> magic = {'L', 'R', 'D', 'R'};
inline constexpr std::uint16_t format_version = 1;
inline constexpr std::size_t header_size = 24;
inline constexpr std::size_t footer_size = 32;

struct header {
  std::uint16_t version = format_version;
  std::uint16_t flags = 0;
  std::uint32_t key_length = 0;
  std::uint64_t payload_length = 0;
};

/// Total file size of an entry.
inline std::uint64_t file_size(std::size_t key_length, std::uint64_t payload_length) noexcept {
  return header_size + key_length + payload_length + footer_size;
}

/// The header bytes followed by the key, as one small blob (the payload is not copied).
blob encode_header_and_key(std::string_view key, std::uint64_t payload_length);

/// The footer over header+key and the payload.
blob encode_footer(const blob& header_and_key, const blob& payload);

/// Parses and checks the fixed header fields (magic, version, no unknown flags).
std::optional<header> decode_header(std::span<const std::byte> bytes) noexcept;

/// Verifies a whole file read into `file` against `key`; returns the payload's offset and
/// length when header, key, lengths and footer all agree.
struct payload_range {
  std::size_t offset;
  std::size_t length;
};
std::optional<payload_range> verify(std::span<const std::byte> file, std::string_view key) noexcept;

/// The file name stem: 64 lowercase hex of BLAKE3(key); its first two characters name the
/// fan-out directory.
std::string name_of(std::string_view key);

/// "ab/<64 hex>.bin", relative to the root.
inline std::string relative_path(const std::string& name) {
  return name.substr(0, 2) + '/' + name + ".bin";
}

}  // namespace larder::detail::disk
