// The protocol by which a store sharing its root with other openers learns what they did
// (docs/disk-format.md, "Sharing a root"). Sans-I/O: which fan-out directories to list, how
// a listing differs from the index, whether a listing may be applied, and when to look again
// are plain functions and one small state over names and timestamps, tested with tables
// (test/internal/test_dir_sync.cpp); sharing.cpp does the statx, the listing and the reads.
//
// Why the directories themselves and not a journal: every change another process makes to
// an entry (a put's rename, an unlink) changes its fan-out directory, and the kernel records
// that in the directory's mtime and its listing whether or not that process lives to say
// so. A process killed between its rename and any note of it leaves nothing to repair, and
// there is no shared file to tear, grow or compact.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "stores/disk/snapshot.hpp"

namespace larder::detail::disk {

// One fan-out directory as a statx before its listing found it.
struct dir_probe {
  enum { missing, directory, unreadable } state = unreadable;  // unreadable: not a directory too
  time_ns mtime_ns = 0;
};

// What the store knows of each directory since its last look.
class dir_sync {
 public:
  // The directories to list now, given each one's probe and the ones the store knows to
  // exist (`known`: only those can hold indexed entries): every directory never listed,
  // whose mtime differs from the one recorded, or whose recorded mtime was too recent to
  // trust (a second change within the same timestamp tick leaves it equal). A missing
  // directory needs a listing only if known (its entries went with it).
  std::bitset<256> plan(std::span<const dir_probe, 256> probes,
                        const std::bitset<256>& known) const;
  // After directory `dir`, probed as `before` at `probed_at_ns`, was listed and its findings
  // applied: the next plan skips it while its mtime stays `before.mtime_ns`, if that was
  // already settled when probed. Not applied (a change of this store ran beside the
  // listing, or the listing failed): it stays to be listed again.
  void listed(unsigned dir, const dir_probe& before, time_ns probed_at_ns, bool applied);

 private:
  std::array<time_ns, 256> trusted_{};  // meaningful where trusted_set_
  std::bitset<256> trusted_set_;
};

// How one directory's listing differs from what the index holds of it. Both inputs are entry
// names (the 64 hex digits); sorted here.
struct dir_diff {
  std::vector<std::string> added;  // listed, not indexed: read their headers
  std::vector<std::string> gone;   // indexed, not listed: forget them
};
dir_diff compare_listing(std::vector<std::string> listed, std::vector<std::string> indexed);

// Whether a listing of a directory may change the index: no change of this store was running
// in it when the index's part was copied (`busy_before`), and none began or ended since
// (`changes_before` is the directory's change count then, `changes_now` now). Otherwise the
// listing and the copy may disagree about this store's own put or unlink, and applying it
// could forget a file just installed or bring back one just removed.
constexpr bool may_apply(std::uint32_t busy_before, std::uint64_t changes_before,
                         std::uint64_t changes_now) noexcept {
  return busy_before == 0 && changes_before == changes_now;
}

// When a put makes a sharing store look again without being asked: once this store's puts
// since its last look reach a fortieth of the byte bound (or of the entry bound), so that
// with N writers each one's view lacks at most (N - 1) / 40 of the bound and the total stays
// within 10% of it for up to five writers.
struct refresh_due {
  std::uint64_t max_bytes = 0;
  std::uint64_t max_entries = 0;  // 0: unbounded
  static constexpr std::uint64_t share = 40;
  constexpr bool operator()(std::uint64_t bytes_since, std::uint64_t puts_since) const noexcept {
    if (bytes_since * share >= max_bytes) return true;
    return max_entries != 0 && puts_since * share >= max_entries;
  }
};

}  // namespace larder::detail::disk
