// The disk entry format (stores/disk/format.hpp) without a file: an encoded entry, then each
// way a file can differ from it (torn, flipped, from another key, from a newer format), and
// what decode_header and verify make of it.
#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "stores/disk/format.hpp"

namespace disk = larder::detail::disk;

namespace {

std::vector<std::byte> entry(std::string_view key, std::string_view value) {
  const auto head = disk::encode_header_and_key(key, value.size());
  const auto payload = larder::blob::copy_of(value);
  const auto footer = disk::encode_footer(head, payload);
  std::vector<std::byte> file;
  for (const auto* part : {&head, &payload, &footer})
    file.insert(file.end(), part->bytes().begin(), part->bytes().end());
  return file;
}

void flip(std::vector<std::byte>& file, std::size_t at) {
  file.at(at) ^= std::byte{0x01};
}

void put_u16(std::vector<std::byte>& file, std::size_t at, std::uint16_t v) {
  file.at(at) = static_cast<std::byte>(v & 0xff);
  file.at(at + 1) = static_cast<std::byte>(v >> 8);
}

}  // namespace

TEST_CASE("disk format: an entry verifies against its own key", "[disk][format]") {
  for (const std::string& value : {std::string(), std::string("v"), std::string(70'000, 'x')}) {
    const auto file = entry("shader/ab", value);
    REQUIRE(file.size() == disk::file_size(9, value.size()));
    const auto range = disk::verify(file, "shader/ab");
    REQUIRE(range);
    CHECK(range->offset == disk::header_size + 9);
    CHECK(range->length == value.size());
    CHECK(std::memcmp(file.data() + range->offset, value.data(), value.size()) == 0);
    const auto h = disk::decode_header(file);
    REQUIRE(h);
    CHECK(h->version == disk::format_version);
    CHECK(h->key_length == 9);
    CHECK(h->payload_length == value.size());
  }
}

TEST_CASE("disk format: every kind of damage is refused", "[disk][format]") {
  const std::string key = "k/1";
  const std::string value = "payload bytes";
  const auto good = entry(key, value);
  const std::size_t key_at = disk::header_size;
  const std::size_t payload_at = key_at + key.size();
  const std::size_t footer_at = payload_at + value.size();

  struct damage {
    const char* title;
    std::function<void(std::vector<std::byte>&)> apply;
    std::string key;      // the key verify is asked about
    bool header_decodes;  // what decode_header says of the damaged bytes
  };
  const std::vector<damage> table = {
      {"magic", [](auto& f) { flip(f, 0); }, key, false},
      {"a newer version", [](auto& f) { put_u16(f, 4, 2); }, key, false},
      {"an unknown flag", [](auto& f) { put_u16(f, 6, 1); }, key, false},
      {"the reserved word", [](auto& f) { flip(f, 12); }, key, false},
      {"the key length", [](auto& f) { flip(f, 8); }, key, true},
      {"the payload length", [](auto& f) { flip(f, 16); }, key, true},
      {"a payload length past 2^63", [](auto& f) { f.at(23) = std::byte{0x80}; }, key, true},
      {"a byte of the key", [=](auto& f) { flip(f, key_at); }, key, true},
      {"a byte of the payload", [=](auto& f) { flip(f, payload_at + 3); }, key, true},
      {"a byte of the footer", [=](auto& f) { flip(f, footer_at + 31); }, key, true},
      {"torn: the footer missing", [=](auto& f) { f.resize(footer_at); }, key, true},
      {"torn: half the header", [](auto& f) { f.resize(disk::header_size / 2); }, key, false},
      {"empty", [](auto& f) { f.clear(); }, key, false},
      {"a byte appended", [](auto& f) { f.push_back(std::byte{0}); }, key, true},
      {"asked for another key of the same length", [](auto&) {}, "k/2", true},
      {"asked for a longer key", [](auto&) {}, "k/10", true},
  };
  for (const auto& d : table) {
    SECTION(d.title) {
      auto file = good;
      d.apply(file);
      CHECK_FALSE(disk::verify(file, d.key));
      CHECK(disk::decode_header(file).has_value() == d.header_decodes);
    }
  }
}

TEST_CASE("disk format: names are BLAKE3 hex under a two-character fan-out", "[disk][format]") {
  const auto name = disk::name_of("abc");
  // BLAKE3("abc"), the reference test vector.
  CHECK(name == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
  CHECK(disk::relative_path(name) == "64/" + name + ".bin");
}
