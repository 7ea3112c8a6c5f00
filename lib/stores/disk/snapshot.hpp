// The saved index (docs/disk-format.md, "The saved index"): what disk_store::save_index()
// writes to `<root>/larder.index` and the next open loads instead of reading every file.
//
// Sans-I/O: encoding, decoding and the decisions about which fan-out directories a saved
// index may stand for are plain functions over bytes and timestamps, tested with tables
// (test/test_disk_snapshot.cpp); snapshot_io.cpp does the reading and writing.
//
// Why a directory's modification time: every change to an entry (a put's rename over it, a
// removal's unlink, a temp file's creation) changes its fan-out directory's mtime, whoever
// makes it. A saved directory whose mtime is still the one recorded therefore holds exactly
// the entries the save listed; any other is listed again. So a crash after the save, a
// process that wrote the directory later, or a file removed by hand costs a rescan of the
// directories they touched, never an entry that is not there or one that is missed.
#pragma once

#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "larder/blob.hpp"

namespace larder::detail::disk {

inline constexpr std::string_view snapshot_name = "larder.index";
inline constexpr std::string_view snapshot_temp_name = "larder.index.tmp";
inline constexpr std::string_view lock_name = "larder.lock";
inline constexpr std::string_view joins_name = "larder.joins";
inline constexpr std::uint32_t snapshot_version = 1;
inline constexpr std::size_t snapshot_head_size = 32;
inline constexpr std::size_t snapshot_dir_size = 16;
inline constexpr std::size_t snapshot_entry_head = 16;

// A file timestamp in nanoseconds since the epoch.
using time_ns = std::int64_t;

// A directory whose mtime is closer than this to the moment it was read may still change
// within the same timestamp tick (Linux stamps directories from a coarse clock, a tick of
// 1-10 ms): the save does not vouch for it.
inline constexpr time_ns settle_margin_ns = 100'000'000;
// An mtime without a sub-second part comes from a file system that keeps whole seconds
// (ext3, ext4 with 128-byte inodes, as mke2fs makes small ones; FAT keeps two): a change
// in the same second or two leaves it unchanged, so the margin covers that instead.
inline constexpr time_ns coarse_margin_ns = 3'000'000'000;

struct snapshot_dir {
  // Its entries below are all it held when it was saved, and `mtime_ns` was its mtime.
  bool trusted = false;
  time_ns mtime_ns = 0;
};

struct snapshot_entry {
  std::string key;
  std::uint64_t size = 0;  // the whole file
  std::uint8_t dir = 0;    // the fan-out directory (the first byte of BLAKE3(key))
};

struct snapshot {
  time_ns written_ns = 0;  // wall clock when it was made
  std::array<snapshot_dir, 256> dirs{};
  std::vector<snapshot_entry> entries;  // least recently used first
};

// The file: a 32-byte head (magic, version, written_ns, entry count), 256 directory records,
// the entries, and the BLAKE3 of all that.
blob encode_snapshot(const snapshot& s);

// nullopt unless every byte checks: magic, version, reserved fields and flags zero but the
// trusted bit, every length within the bytes, the digest. Allocates only in proportion to
// `bytes` (a count claiming more entries than the bytes could hold is refused first).
std::optional<snapshot> decode_snapshot(std::span<const std::byte> bytes);

// The directories whose saved entries the index may take: trusted when saved, and `now`
// (each directory's mtime as the open found it; nullopt when it could not be read or is not
// a directory) equal to the mtime recorded.
std::bitset<256> dirs_to_trust(const snapshot& s,
                               const std::array<std::optional<time_ns>, 256>& now);

// At save: whether a directory with mtime `mtime_ns`, read at `read_at_ns`, would get a
// different mtime from any later change (see settle_margin_ns).
constexpr bool settled(time_ns mtime_ns, time_ns read_at_ns) noexcept {
  const time_ns margin = mtime_ns % 1'000'000'000 == 0 ? coarse_margin_ns : settle_margin_ns;
  return mtime_ns <= read_at_ns - margin;
}

}  // namespace larder::detail::disk
