#include "larder/fingerprint.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

using larder::fingerprint;

namespace {

std::string official_input(std::size_t n) {
  // The official BLAKE3 test vectors hash the byte pattern 0, 1, ..., 250, 0, 1, ...
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>(i % 251);
  return s;
}

// A user type with two spellings of one value: the same settings inserted in a
// different order iterate differently, yet must share a fingerprint.
struct shader_options {
  std::string stage;
  std::unordered_map<std::string, std::string> defines;
};

}  // namespace

template <>
struct larder::canonical<shader_options> {
  static void append(hasher& h, const shader_options& o) {
    canonical<std::string>::append(h, o.stage);
    const std::map<std::string, std::string> sorted(o.defines.begin(), o.defines.end());
    canonical<std::map<std::string, std::string>>::append(h, sorted);
  }
};

TEST_CASE("fingerprint matches the official BLAKE3 vectors") {
  const std::pair<std::size_t, const char*> vectors[] = {
      {0, "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
      {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213"},
      {63, "e9bc37a594daad83be9470df7f7b3798297c3d834ce80ba85d6e207627b7db7b"},
      {64, "4eed7141ea4a5cd4b788606bd23f46e212af9cacebacdc7d1f4c6dc7f2511b98"},
      {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7"},
      {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444"},
      {8192, "aae792484c8efe4f19e2ca7d371d8c467ffb10748d8a5a1ae579948f718a2a63"},
      {102400, "bc3e3d41a1146b069abffad3c0d44860cf664390afce4d9661f7902e7943e085"},
  };
  for (const auto& [length, hex] : vectors) {
    INFO("input length " << length);
    CHECK(fingerprint::of(official_input(length)).to_hex() == hex);
  }
}

TEST_CASE("the incremental hasher equals the one-shot digest, however the input is cut") {
  const auto input = official_input(31744);
  const auto whole = fingerprint::of(input);
  for (std::size_t piece : {1u, 7u, 64u, 1000u, 1024u, 4096u}) {
    larder::hasher h;
    for (std::size_t at = 0; at < input.size(); at += piece)
      h.update(std::string_view(input).substr(at, piece));
    INFO("piece " << piece);
    CHECK(h.finalize() == whole);
  }
  larder::hasher h;
  h.update("garbage");
  h.reset();
  CHECK(h.finalize() == fingerprint::of(""));
}

TEST_CASE("hex round-trips and bad hex is a clear error") {
  const auto fp = fingerprint::of("render pipeline 42");
  const auto hex = fp.to_hex();
  CHECK(hex.size() == 64);
  auto parsed = fingerprint::from_hex(hex);
  REQUIRE(parsed);
  CHECK(*parsed == fp);

  std::string upper = hex;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto parsed_upper = fingerprint::from_hex(upper);
  REQUIRE(parsed_upper);
  CHECK(*parsed_upper == fp);

  for (const std::string& bad :
       {std::string(""), hex.substr(1), hex + "0", "g" + hex.substr(1), hex.substr(0, 63) + " "}) {
    auto r = fingerprint::from_hex(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == larder::errc::invalid_hex);
    CHECK(r.error().message().find("64") != std::string::npos);
  }
}

TEST_CASE("key() is the 32 raw bytes and fingerprints order and hash") {
  const auto a = fingerprint::of("a"), b = fingerprint::of("b");
  CHECK(a.key().size() == 32);
  CHECK(std::string_view(reinterpret_cast<const char*>(a.bytes().data()), 32) == a.key());
  CHECK(a != b);
  CHECK((a < b) != (b < a));
  CHECK(std::hash<fingerprint>{}(a) != std::hash<fingerprint>{}(b));
}

TEST_CASE("two spellings of one value share a fingerprint through canonical<T>") {
  shader_options first{"fragment", {}};
  first.defines.reserve(64);
  for (int i = 0; i < 40; ++i)
    first.defines.emplace("D" + std::to_string(i), std::to_string(i));
  shader_options second{"fragment", {}};
  for (int i = 39; i >= 0; --i)
    second.defines.emplace("D" + std::to_string(i), std::to_string(i));

  // The precondition that makes the test meaningful: iteration order differs.
  CHECK_FALSE(std::equal(first.defines.begin(), first.defines.end(), second.defines.begin()));
  CHECK(fingerprint::of_value(first) == fingerprint::of_value(second));

  second.defines["D7"] = "seven";
  CHECK(fingerprint::of_value(first) != fingerprint::of_value(second));
}

TEST_CASE("canonical bytes frame lengths, so concatenations do not collide") {
  using pair = std::pair<std::string, std::string>;
  CHECK(fingerprint::of_value(pair{"ab", "c"}) != fingerprint::of_value(pair{"a", "bc"}));
  CHECK(fingerprint::of_value(std::vector<int>{1, 2}) !=
        fingerprint::of_value(std::vector<int>{1, 2, 0}));
  CHECK(fingerprint::of_value(5) == fingerprint::of_value(5L));
  CHECK(fingerprint::of_value(std::string("x")) == fingerprint::of_value(std::string_view("x")));
}
