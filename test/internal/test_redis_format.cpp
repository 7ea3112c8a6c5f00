// The Redis tier's byte formats (stores/redis/format.hpp) without a server: stored values
// with their checksummed header, and the invalidation and acknowledgement messages.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "stores/redis/format.hpp"

namespace redis = larder::redis;

namespace {

std::string stored(std::string_view key, std::string_view value) {
  const auto h = redis::value_header(key, value);
  return std::string(h.data(), h.size()) + std::string(value);
}

}  // namespace

TEST_CASE("redis format: a stored value opens under its own key only", "[redis][format]") {
  for (const std::string& value : {std::string(), std::string("v"), std::string(100'000, 'z')}) {
    const auto bytes = larder::blob::copy_of(stored("key", value));
    const auto opened = redis::open_value("key", bytes);
    REQUIRE(opened);
    CHECK(opened->view() == value);
    CHECK_FALSE(redis::open_value("kez", bytes));
    CHECK_FALSE(redis::open_value("ke", bytes));
  }
}

TEST_CASE("redis format: damaged values are refused", "[redis][format]") {
  const std::string good = stored("a/b", "hello world");
  struct damage {
    const char* title;
    std::size_t flip_at;  // npos: truncate instead
    std::size_t keep;
  };
  const std::vector<damage> table = {
      {"magic", 0, 0},
      {"version byte of the magic", 3, 0},
      {"length", 4, 0},
      {"checksum", 9, 0},
      {"value byte", 20, 0},
      {"truncated value", std::string::npos, 20},
      {"header only", std::string::npos, redis::header_size},
      {"short header", std::string::npos, 7},
  };
  for (const auto& d : table) {
    SECTION(d.title) {
      std::string bytes = good;
      if (d.flip_at == std::string::npos)
        bytes.resize(d.keep);
      else
        bytes[d.flip_at] = static_cast<char>(bytes[d.flip_at] ^ 0x20);
      CHECK_FALSE(redis::open_value("a/b", larder::blob::copy_of(bytes)));
    }
  }
  SECTION("a byte appended") {
    CHECK_FALSE(redis::open_value("a/b", larder::blob::copy_of(good + "!")));
  }
}

TEST_CASE("redis format: invalidation messages round-trip", "[redis][format]") {
  struct row {
    char kind;
    std::string node, key;
    std::uint64_t id;
  };
  const std::vector<row> rows = {
      {'p', "node-a", "p/", 0},
      {'k', "0123456789abcdef", "key with spaces\n", 0xfedcba9876543210ull},
      {'p', "", "", 1},
      {'k', std::string(255, 'n'), std::string(1000, 'k'), 42},
  };
  for (const auto& r : rows) {
    const auto bytes = redis::encode_message(r.kind, r.node, r.id, r.key);
    const auto m = redis::decode_message(bytes);
    REQUIRE(m);
    CHECK(m->kind == r.kind);
    CHECK(m->node == r.node);
    CHECK(m->id == r.id);
    CHECK(m->key == r.key);
  }
}

TEST_CASE("redis format: malformed messages are refused", "[redis][format]") {
  const auto good = redis::encode_message('k', "node", 7, "key");
  const std::vector<std::pair<const char*, std::string>> table = {
      {"empty", ""},
      {"kind only", "k"},
      {"unknown kind", "x" + good.substr(1)},
      {"node length past the end", good.substr(0, 2) + "no"},
      {"id cut short", good.substr(0, 2 + 4 + 5)},
  };
  for (const auto& [title, bytes] : table) {
    INFO(title);
    CHECK_FALSE(redis::decode_message(bytes));
  }
  CHECK(redis::decode_message(good.substr(0, 2 + 4 + 8)));  // an empty key is a valid message
}

TEST_CASE("redis format: acknowledgement ids and names", "[redis][format]") {
  for (const std::uint64_t id : {0ull, 1ull, 0x0102030405060708ull, ~0ull}) {
    const auto bytes = redis::encode_id(id);
    CHECK(bytes.size() == 8);
    CHECK(redis::decode_id(bytes) == id);
  }
  CHECK_FALSE(redis::decode_id("1234567"));
  CHECK_FALSE(redis::decode_id("123456789"));
  CHECK(redis::ack_channel("ns", "n1") == "larder:ack:ns:n1");
  const redis::key_names names("ns");
  CHECK(names.data_prefix == "{ns}:d:");
  CHECK(names.index == "{ns}:index");
  CHECK(names.channel == "larder:invalidate:ns");
}
