// Byte formats shared by redis_store and invalidation_bus: the stored value's header and
// the invalidation message.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "larder/blob.hpp"

namespace larder::redis {

// A stored value: "LRV1", the value's length (u32 little-endian), then the first 8 bytes
// of BLAKE3 over the key's length (u32 LE), the key and the value; then the value.
inline constexpr std::size_t header_size = 16;
std::array<char, header_size> value_header(std::string_view key, std::string_view value);
// The value inside `stored` (sharing its storage) if header, length and checksum agree.
std::optional<blob> open_value(std::string_view key, const blob& stored);

// Keys of a namespace: everything under the hash tag "{ns}".
struct key_names {
  explicit key_names(std::string_view name_space);
  std::string data_prefix;  // "{ns}:d:" + key
  std::string index, ttl, sizes, bytes;
  std::string channel;  // the invalidation channel (not a key)
};

// An invalidation message: a kind ('p': prefix, 'k': one key), the sender's node id, the
// write's id (u64 LE; 0: the sender waits for no acknowledgement), and the key or prefix.
struct message {
  char kind = 'p';
  std::string_view node;
  std::uint64_t id = 0;
  std::string_view key;
};
std::string encode_message(char kind, std::string_view node, std::uint64_t id,
                           std::string_view key);
std::optional<message> decode_message(std::string_view bytes);

// Acknowledgements travel on a channel per sending node; the payload is the write's id.
std::string ack_channel(std::string_view name_space, std::string_view node);
std::string encode_id(std::uint64_t id);
std::optional<std::uint64_t> decode_id(std::string_view bytes);

}  // namespace larder::redis
