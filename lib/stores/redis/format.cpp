#include "stores/redis/format.hpp"

#include <cstring>
#include <random>

#include "larder/hasher.hpp"
#include "larder/redis_store.hpp"

namespace larder::redis {
namespace {

constexpr char magic[4] = {'L', 'R', 'V', '1'};

void put_u32(char* out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint32_t get_u32(const char* in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

std::array<char, 8> checksum(std::string_view key, std::string_view value) {
  char length[4];
  put_u32(length, static_cast<std::uint32_t>(key.size()));
  hasher h;
  h.update(std::string_view(length, 4)).update(key).update(value);
  std::array<std::byte, 32> digest;
  h.finalize_into(digest);
  std::array<char, 8> out;
  std::memcpy(out.data(), digest.data(), out.size());
  return out;
}

}  // namespace

std::array<char, header_size> value_header(std::string_view key, std::string_view value) {
  std::array<char, header_size> h;
  std::memcpy(h.data(), magic, 4);
  put_u32(h.data() + 4, static_cast<std::uint32_t>(value.size()));
  const auto sum = checksum(key, value);
  std::memcpy(h.data() + 8, sum.data(), sum.size());
  return h;
}

std::optional<blob> open_value(std::string_view key, const blob& stored) {
  const auto bytes = stored.view();
  if (bytes.size() < header_size || std::memcmp(bytes.data(), magic, 4) != 0) return std::nullopt;
  const auto length = get_u32(bytes.data() + 4);
  if (length != bytes.size() - header_size) return std::nullopt;
  const auto value = bytes.substr(header_size);
  const auto sum = checksum(key, value);
  if (std::memcmp(sum.data(), bytes.data() + 8, sum.size()) != 0) return std::nullopt;
  return stored.slice(header_size, length);
}

key_names::key_names(std::string_view name_space) {
  const std::string tag = "{" + std::string(name_space) + "}:";
  data_prefix = tag + "d:";
  index = tag + "index";
  ttl = tag + "ttl";
  sizes = tag + "sizes";
  bytes = tag + "bytes";
  channel = "larder:invalidate:" + std::string(name_space);
}

std::string encode_id(std::uint64_t id) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((id >> (8 * i)) & 0xff);
  return out;
}

std::optional<std::uint64_t> decode_id(std::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  std::uint64_t id = 0;
  for (int i = 0; i < 8; ++i)
    id |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]))
          << (8 * i);
  return id;
}

std::string encode_message(char kind, std::string_view node, std::uint64_t id,
                           std::string_view key) {
  std::string out;
  const auto node_size = std::min<std::size_t>(node.size(), 255);
  out.reserve(10 + node_size + key.size());
  out += kind;
  out += static_cast<char>(node_size);
  out.append(node.substr(0, node_size));
  out += encode_id(id);
  out.append(key);
  return out;
}

std::optional<message> decode_message(std::string_view bytes) {
  if (bytes.size() < 2 || (bytes[0] != 'p' && bytes[0] != 'k')) return std::nullopt;
  const std::size_t node_size = static_cast<unsigned char>(bytes[1]);
  if (bytes.size() < 10 + node_size) return std::nullopt;
  const auto id = decode_id(bytes.substr(2 + node_size, 8));
  return message{bytes[0], bytes.substr(2, node_size), *id, bytes.substr(10 + node_size)};
}

std::string ack_channel(std::string_view name_space, std::string_view node) {
  return "larder:ack:" + std::string(name_space) + ":" + std::string(node);
}

}  // namespace larder::redis

namespace larder {

const std::string& default_node_id() {
  static const std::string id = [] {
    std::random_device device;
    std::mt19937_64 bits((static_cast<std::uint64_t>(device()) << 32) ^ device());
    const auto value = bits();
    static constexpr char hex[] = "0123456789abcdef";
    std::string out(16, '0');
    for (int i = 0; i < 16; ++i)
      out[static_cast<std::size_t>(i)] = hex[(value >> (4 * i)) & 0xf];
    return out;
  }();
  return id;
}

}  // namespace larder
