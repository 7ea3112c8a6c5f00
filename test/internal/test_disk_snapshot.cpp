// The saved index (stores/disk/snapshot.hpp) without a file: round trips, every torn or
// altered form refused, and the decisions about which directories a saved index stands for,
// as tables.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "larder/hasher.hpp"
#include "stores/disk/snapshot.hpp"

namespace disk = larder::detail::disk;

namespace {

disk::snapshot sample() {
  disk::snapshot s;
  s.written_ns = 1'700'000'000'123'456'789;
  s.dirs[0] = {true, 1'600'000'000'000'000'001};
  s.dirs[0xab] = {true, 42};
  s.dirs[0xff] = {false, 7};
  s.entries = {{"shader/a", 4096, 0x00}, {"", 56, 0xab}, {std::string(300, 'k'), 1 << 20, 0xab}};
  return s;
}

std::vector<std::byte> bytes_of(const larder::blob& b) {
  return {b.bytes().begin(), b.bytes().end()};
}

// Re-seals altered bytes with a valid digest, so that a check other than the digest's
// must refuse them.
void reseal(std::vector<std::byte>& file) {
  const std::size_t body = file.size() - 32;
  larder::hasher h;
  h.update(std::span<const std::byte>(file.data(), body));
  h.finalize_into(std::span<std::byte, 32>(file.data() + body, 32));
}

constexpr std::size_t dirs_at = 32;
constexpr std::size_t entries_at = dirs_at + 256 * 16;

}  // namespace

TEST_CASE("saved index: what is encoded decodes as it was", "[disk][snapshot]") {
  const auto in = sample();
  const auto file = bytes_of(disk::encode_snapshot(in));
  const auto out = disk::decode_snapshot(file);
  REQUIRE(out.has_value());
  CHECK(out->written_ns == in.written_ns);
  for (unsigned d = 0; d < 256; ++d) {
    INFO(d);
    CHECK(out->dirs[d].trusted == in.dirs[d].trusted);
    CHECK(out->dirs[d].mtime_ns == in.dirs[d].mtime_ns);
  }
  REQUIRE(out->entries.size() == in.entries.size());
  for (std::size_t i = 0; i < in.entries.size(); ++i) {
    CHECK(out->entries[i].key == in.entries[i].key);
    CHECK(out->entries[i].size == in.entries[i].size);
    CHECK(out->entries[i].dir == in.entries[i].dir);
  }
  // No entries at all is an index too (an empty cache).
  CHECK(disk::decode_snapshot(bytes_of(disk::encode_snapshot(disk::snapshot{}))).has_value());
}

TEST_CASE("saved index: a torn file is refused at every length", "[disk][snapshot]") {
  const auto file = bytes_of(disk::encode_snapshot(sample()));
  for (std::size_t n = 0; n < file.size(); ++n) {
    INFO(n);
    CHECK_FALSE(disk::decode_snapshot(std::span(file.data(), n)).has_value());
  }
  auto longer = file;
  longer.push_back(std::byte{0});
  CHECK_FALSE(disk::decode_snapshot(longer).has_value());
}

TEST_CASE("saved index: any flipped bit is refused", "[disk][snapshot]") {
  const auto file = bytes_of(disk::encode_snapshot(sample()));
  for (std::size_t at = 0; at < file.size(); at += 7) {
    auto altered = file;
    altered[at] ^= std::byte{0x10};
    INFO(at);
    CHECK_FALSE(disk::decode_snapshot(altered).has_value());
  }
}

TEST_CASE("saved index: fields that the digest cannot judge are checked", "[disk][snapshot]") {
  const auto good = bytes_of(disk::encode_snapshot(sample()));
  struct change {
    const char* what;
    std::size_t at;
    std::size_t width;  // bytes, little-endian
    std::uint64_t value;
  };
  const std::size_t second_entry = entries_at + 16 + 8;
  const change table[] = {
      {"another version", 8, 4, 2},
      {"reserved head field", 12, 4, 1},
      {"more entries than the bytes hold", 24, 8, 1ull << 40},
      {"one entry fewer than there are", 24, 8, 2},
      {"one entry more", 24, 8, 4},
      {"unknown directory flag", dirs_at + 8, 4, 2},
      {"reserved directory field", dirs_at + 12, 4, 1},
      {"reserved entry byte", entries_at + 1, 1, 1},
      {"key length beyond the end", entries_at + 4, 4, 1u << 30},
      {"entry smaller than its header and footer", second_entry + 8, 8, 55},
  };
  for (const auto& c : table) {
    INFO(c.what);
    auto altered = good;
    for (std::size_t i = 0; i < c.width; ++i)
      altered.at(c.at + i) = static_cast<std::byte>((c.value >> (8 * i)) & 0xff);
    reseal(altered);
    CHECK_FALSE(disk::decode_snapshot(altered).has_value());
  }
  // The resealing itself is sound: the unchanged bytes resealed still decode.
  auto same = good;
  reseal(same);
  CHECK(disk::decode_snapshot(same).has_value());
}

TEST_CASE("saved index: a directory is taken only as it was saved", "[disk][snapshot]") {
  disk::snapshot s;
  s.dirs[1] = {true, 100};
  s.dirs[2] = {true, 100};
  s.dirs[3] = {false, 100};
  s.dirs[4] = {true, 100};
  std::array<std::optional<disk::time_ns>, 256> now;
  now[1] = 100;  // unchanged: taken
  now[2] = 101;  // changed since: scanned
  now[3] = 100;  // not vouched for when saved: scanned
  // 4: missing or not a directory now: scanned
  const auto trusted = disk::dirs_to_trust(s, now);
  CHECK(trusted[1]);
  CHECK_FALSE(trusted[2]);
  CHECK_FALSE(trusted[3]);
  CHECK_FALSE(trusted[4]);
  CHECK(trusted.count() == 1);
}

TEST_CASE("saved index: a directory changed just before the save is not vouched for",
          "[disk][snapshot]") {
  struct row {
    disk::time_ns mtime, read_at;
    bool settled;
  };
  const disk::time_ns margin = disk::settle_margin_ns;
  const disk::time_ns coarse = disk::coarse_margin_ns;
  const disk::time_ns second = 1'000'000'000;
  // clang-format off
  const row table[] = {
      {1'000, 1'000 + margin, true},
      {1'000, 1'000 + margin - 1, false},
      {1'000, 1'000, false},
      {2'000, 1'000, false},  // a clock stepped back: not settled either
      // Whole seconds: a file system that keeps no more, so seconds of margin.
      {5 * second, 5 * second + margin, false},
      {5 * second, 5 * second + coarse - 1, false},
      {5 * second, 5 * second + coarse, true},
  };
  // clang-format on

  for (const auto& r : table) {
    INFO(r.mtime << " read at " << r.read_at);
    CHECK(disk::settled(r.mtime, r.read_at) == r.settled);
  }
}
