// The sharing protocol's decisions (stores/disk/dir_sync.hpp) without a directory: which
// fan-out directories a refresh lists, how a listing differs from the index, when a listing
// may be applied and when a put asks for a refresh, as tables.
#include <array>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "stores/disk/dir_sync.hpp"

namespace disk = larder::detail::disk;

namespace {

using probes = std::array<disk::dir_probe, 256>;

constexpr disk::time_ns second = 1'000'000'000;
constexpr disk::time_ns now = 1'700'000'000 * second + 500'000'000;  // sub-second clock
constexpr disk::time_ns old_mtime = now - 10 * second + 123;         // settled
constexpr disk::time_ns fresh_mtime = now - 5'000'000 + 7;           // 5 ms ago: not settled

disk::dir_probe dir_at(disk::time_ns mtime) {
  return {disk::dir_probe::directory, mtime};
}
disk::dir_probe missing() {
  return {disk::dir_probe::missing, 0};
}

probes all_missing() {
  probes p;
  p.fill(missing());
  return p;
}

}  // namespace

TEST_CASE("dir_sync: what a refresh lists", "[disk][sharing]") {
  struct row {
    const char* what;
    disk::dir_probe first;  // probe of the first refresh, which applies its listing
    bool applied;
    disk::dir_probe second;  // probe of the next refresh
    bool listed_again;
  };
  const row rows[] = {
      {"unchanged, settled", dir_at(old_mtime), true, dir_at(old_mtime), false},
      {"changed since", dir_at(old_mtime), true, dir_at(old_mtime + 1), true},
      {"too recent to trust, unchanged", dir_at(fresh_mtime), true, dir_at(fresh_mtime), true},
      {"not applied (own change raced)", dir_at(old_mtime), false, dir_at(old_mtime), true},
      {"whole-second mtime within 3 s", dir_at(now - 2 * second - 500'000'000), true,
       dir_at(now - 2 * second - 500'000'000), true},
      {"whole-second mtime older than 3 s", dir_at(now - 4 * second - 500'000'000), true,
       dir_at(now - 4 * second - 500'000'000), false},
      {"known, then removed", dir_at(old_mtime), true, missing(), true},
      {"unreadable", dir_at(old_mtime), true, {disk::dir_probe::unreadable, 0}, true},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    disk::dir_sync sync;
    auto p = all_missing();
    p[0x3c] = r.first;
    std::bitset<256> known;
    known.set(0x3c);
    const auto first = sync.plan(p, known);
    CHECK(first[0x3c]);  // never listed
    CHECK(first.count() == 1u);
    sync.listed(0x3c, r.first, now, r.applied);
    p[0x3c] = r.second;
    const auto second_plan = sync.plan(p, known);
    CHECK(second_plan[0x3c] == r.listed_again);
    CHECK(second_plan.count() == (r.listed_again ? 1u : 0u));
  }
}

TEST_CASE("dir_sync: a missing directory is listed only if known", "[disk][sharing]") {
  disk::dir_sync sync;
  const auto p = all_missing();
  std::bitset<256> known;
  CHECK(sync.plan(p, known).none());
  known.set(7);
  known.set(200);
  const auto plan = sync.plan(p, known);
  CHECK(plan.count() == 2u);
  CHECK(plan[7]);
  CHECK(plan[200]);
}

TEST_CASE("dir_sync: a listing against the index", "[disk][sharing]") {
  struct row {
    std::vector<std::string> listed, indexed, added, gone;
  };
  const row rows[] = {
      {{}, {}, {}, {}},
      {{"aa", "bb"}, {"aa", "bb"}, {}, {}},
      {{"bb", "aa", "cc"}, {"aa"}, {"bb", "cc"}, {}},
      {{"aa"}, {"cc", "aa", "bb"}, {}, {"bb", "cc"}},
      {{"aa", "dd"}, {"bb", "aa"}, {"dd"}, {"bb"}},
      {{"aa", "aa"}, {"bb", "bb"}, {"aa"}, {"bb"}},
  };
  for (const auto& r : rows) {
    const auto d = disk::compare_listing(r.listed, r.indexed);
    CHECK(d.added == r.added);
    CHECK(d.gone == r.gone);
  }
}

TEST_CASE("dir_sync: a listing is applied only if this store changed nothing beside it",
          "[disk][sharing]") {
  struct row {
    std::uint32_t busy;
    std::uint64_t before, after;
    bool apply;
  };
  const row rows[] = {{0, 5, 5, true}, {1, 5, 5, false}, {0, 5, 6, false}, {0, 5, 7, false}};
  for (const auto& r : rows)
    CHECK(disk::may_apply(r.busy, r.before, r.after) == r.apply);
}

TEST_CASE("dir_sync: when a put asks for a refresh", "[disk][sharing]") {
  struct row {
    std::uint64_t max_bytes, max_entries, bytes, puts;
    bool due;
  };
  const row rows[] = {
      {4000, 0, 99, 1000, false},  // no entry bound: only bytes count
      {4000, 0, 100, 1, true},     // a fortieth of the bytes
      {4000, 400, 10, 9, false},
      {4000, 400, 10, 10, true},              // a fortieth of the entries
      {1ull << 40, 0, 1ull << 34, 1, false},  // 1/64 of a TiB bound
      {1ull << 40, 0, 1ull << 35, 1, true},   // 1/32
  };
  for (const auto& r : rows)
    CHECK(disk::refresh_due{r.max_bytes, r.max_entries}(r.bytes, r.puts) == r.due);
}
