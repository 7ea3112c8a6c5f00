#include "stores/disk/format.hpp"

#include <cstring>

#include "larder/fingerprint.hpp"
#include "larder/hasher.hpp"

namespace larder::detail::disk {

blob encode_header_and_key(std::string_view key, std::uint64_t payload_length) {
  blob_buffer out(header_size + key.size());
  std::byte* p = out.data();
  std::memcpy(p, magic.data(), magic.size());
  put_le<std::uint16_t>(p + 4, format_version);
  put_le<std::uint16_t>(p + 6, 0);
  put_le<std::uint32_t>(p + 8, static_cast<std::uint32_t>(key.size()));
  put_le<std::uint32_t>(p + 12, 0);  // reserved: keeps the payload length 8-aligned
  put_le<std::uint64_t>(p + 16, payload_length);
  if (!key.empty()) std::memcpy(p + header_size, key.data(), key.size());
  return std::move(out).freeze();
}

blob encode_footer(const blob& header_and_key, const blob& payload) {
  hasher h;
  h.update(header_and_key.bytes());
  h.update(payload.bytes());
  blob_buffer out(footer_size);
  h.finalize_into(std::span<std::byte, 32>(out.data(), footer_size));
  return std::move(out).freeze();
}

std::optional<header> decode_header(std::span<const std::byte> bytes) noexcept {
  if (bytes.size() < header_size) return std::nullopt;
  if (std::memcmp(bytes.data(), magic.data(), magic.size()) != 0) return std::nullopt;
  header h;
  h.version = get_le<std::uint16_t>(bytes.data() + 4);
  h.flags = get_le<std::uint16_t>(bytes.data() + 6);
  h.key_length = get_le<std::uint32_t>(bytes.data() + 8);
  h.payload_length = get_le<std::uint64_t>(bytes.data() + 16);
  // Version 1 defines no flags: a set flag means a format this code cannot read.
  if (h.version != format_version || h.flags != 0) return std::nullopt;
  if (get_le<std::uint32_t>(bytes.data() + 12) != 0) return std::nullopt;
  return h;
}

std::optional<payload_range> verify(std::span<const std::byte> file,
                                    std::string_view key) noexcept {
  const auto h = decode_header(file);
  if (!h || h->key_length != key.size()) return std::nullopt;
  if (h->payload_length > file.size() || file.size() != file_size(key.size(), h->payload_length))
    return std::nullopt;
  if (std::memcmp(file.data() + header_size, key.data(), key.size()) != 0) return std::nullopt;
  const std::size_t body = file.size() - footer_size;
  hasher hs;
  hs.update(file.first(body));
  std::array<std::byte, footer_size> digest;
  hs.finalize_into(digest);
  if (std::memcmp(digest.data(), file.data() + body, footer_size) != 0) return std::nullopt;
  return payload_range{header_size + key.size(), static_cast<std::size_t>(h->payload_length)};
}

std::string name_of(std::string_view key) {
  return fingerprint::of(key).to_hex();
}

}  // namespace larder::detail::disk
