// page_index and the fill guard's tag scopes without I/O: tables of recorded pages and
// changes with what each invalidates, and of fills judged by the tags they saw.
#include "live/page_index.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/fill_guard.hpp"

using larder::change_kind;
using namespace larder::detail;

namespace {
using ids = std::vector<std::string>;
bool by_number(std::string_view a, std::string_view b) {
  return std::stoll(std::string(a)) < std::stoll(std::string(b));
}
// Pages of 3: page 0 = 1..3, page 1 = 4..6, page 3 = 10..12, page 4 = 13 (short, last).
page_index seeded(bool ordered, bool keep = true) {
  page_index index(16, 3, ordered ? id_order(by_number) : id_order{}, keep);
  index.record(0, {"1", "2", "3"});
  index.record(1, {"4", "5", "6"});
  index.record(3, {"10", "11", "12"});
  index.record(4, {"13"});
  return index;
}
}  // namespace

TEST_CASE("page_index: what each change invalidates", "[live][unit]") {
  struct row {
    const char* title;
    bool ordered, keep;
    change_kind kind;
    ids changed;
    bool group;
    std::vector<std::uint64_t> pages;
  };
  const std::vector<row> table = {
      {"update on a cached page: that page", true, true, change_kind::updated, {"5"}, false, {1}},
      {"update on no cached page: no page", true, true, change_kind::updated, {"8"}, false, {}},
      {"update of rows on two pages",
       false,
       true,
       change_kind::updated,
       {"2", "11"},
       false,
       {0, 3}},
      {"updates that may move rows: group", true, false, change_kind::updated, {"5"}, true, {}},
      {"insert with order: pages at and after it",
       true,
       true,
       change_kind::inserted,
       {"5"},
       false,
       {1, 3, 4}},
      {"insert after every full page: the short last one",
       true,
       true,
       change_kind::inserted,
       {"20"},
       false,
       {4}},
      {"delete with order: pages at and after it",
       true,
       true,
       change_kind::deleted,
       {"11"},
       false,
       {3, 4}},
      {"insert without order: group", false, true, change_kind::inserted, {"5"}, true, {}},
      {"no id named: group", true, true, change_kind::updated, {}, true, {}},
      {"changed (bulk): group", true, true, change_kind::changed, {"5"}, true, {}},
      {"overflow: group", true, true, change_kind::overflow, {}, true, {}},
      {"lagged: group", true, true, change_kind::lagged, {}, true, {}},
      {"reconnected: group", true, true, change_kind::reconnected, {}, true, {}},
  };
  for (const auto& r : table) {
    INFO(r.title);
    auto index = seeded(r.ordered, r.keep);
    const auto plan = index.take(r.kind, r.changed);
    CHECK(plan.group == r.group);
    CHECK(plan.pages == r.pages);
    if (!r.group) {
      CHECK(plan.row_ids == r.changed);
      CHECK(index.size() == 4 - r.pages.size());  // the pages named are forgotten
      CHECK(index.take(r.kind, r.changed).pages.empty());
    }
  }
}

TEST_CASE("page_index: bounded, and correct when pages are refilled or forgotten", "[live][unit]") {
  page_index index(2, 3, id_order{}, true);
  CHECK_FALSE(index.record(0, {"a", "b", "c"}).has_value());
  CHECK_FALSE(index.record(1, {"d", "e", "f"}).has_value());
  // Refilled with other rows: the old ones no longer point at it.
  CHECK_FALSE(index.record(0, {"x", "b", "c"}).has_value());
  CHECK(index.pages_holding("a").empty());
  CHECK(index.pages_holding("x") == std::vector<std::uint64_t>{0});
  // A third page: the oldest recorded (page 1) is dropped and reported.
  const auto dropped = index.record(2, {"g", "h", "i"});
  REQUIRE(dropped.has_value());
  CHECK(*dropped == 1);
  CHECK(index.size() == 2);
  CHECK(index.pages_holding("e").empty());
  index.forget(0);
  CHECK(index.pages_holding("b").empty());
  CHECK(index.take(change_kind::updated, {"b"}).pages.empty());
  index.clear();
  CHECK(index.size() == 0);
}

TEST_CASE("page_index: a fill is stale only if a tag it saw concerns what it read",
          "[live][unit]") {
  struct row {
    const char* title;
    ids read;
    ids tags;
    bool stale;
  };
  const auto index = seeded(true);
  const std::vector<row> pages = {
      {"update of a row it read", {"4", "5", "6"}, {update_tag("5")}, true},
      {"update of another row", {"4", "5", "6"}, {update_tag("9")}, false},
      {"insert before its last row", {"4", "5", "6"}, {shift_tag("2")}, true},
      {"insert after its last row", {"4", "5", "6"}, {shift_tag("7")}, false},
      {"insert after a short page", {"13"}, {shift_tag("20")}, true},
      {"an unknown tag", {"4", "5", "6"}, {"?x"}, true},
      {"no tags", {"4", "5", "6"}, {}, false},
  };
  for (const auto& r : pages) {
    INFO(r.title);
    CHECK(index.page_stale(r.read, r.tags) == r.stale);
  }
  CHECK(page_index::row_stale("5", {update_tag("5")}));
  CHECK(page_index::row_stale("5", {shift_tag("5")}));
  CHECK_FALSE(page_index::row_stale("5", {update_tag("6"), shift_tag("4")}));
  // Without an order, any insert or delete may shift a page.
  const auto unordered = seeded(false);
  CHECK(unordered.page_stale({"4", "5", "6"}, {shift_tag("7")}));
}

TEST_CASE("fill_guard: tag scopes reach fills in flight and are judged at commit", "[live][unit]") {
  fill_guard guard;
  auto judge_5 = [](const std::vector<std::string>& tags) {
    for (const auto& t : tags)
      if (t == update_tag("5")) return true;
    return false;
  };
  // A fill in flight when a tag scope opens sees its tag.
  const auto a = guard.begin_fill("t/page/1");
  const auto b = guard.begin_fill("t/page/2");
  auto scope = guard.open_tags({update_tag("5")});
  CHECK(scope.waiting == 0);
  guard.close(scope.scope);
  CHECK_FALSE(guard.try_commit(a, judge_5));                      // it read row 5: stands down
  CHECK(guard.try_commit(b, [](const auto&) { return false; }));  // it did not: lands
  // A committing fill is waited out by the next tag scope, whatever its key.
  auto waits = guard.open_tags({update_tag("9")});
  CHECK(waits.waiting == 1);
  bool resumed = false;
  CHECK(guard.when_clear(waits.scope, [&] { resumed = true; }));
  guard.end_fill(b);
  CHECK(resumed);
  // A fill begun while a tag scope is open starts with its tags.
  const auto c = guard.begin_fill("t/page/3");
  guard.close(waits.scope);
  CHECK_FALSE(guard.try_commit(c));  // no judge: any tag seen may concern it
  guard.end_fill(a);
  guard.end_fill(c);
  // With no tag scope at all, the judge is never asked.
  const auto d = guard.begin_fill("t/page/4");
  CHECK(guard.try_commit(d, [](const auto&) { return true; }));
  guard.end_fill(d);
  CHECK(guard.fills() == 0);
  CHECK(guard.scopes() == 0);
}

TEST_CASE("page_index: cursor pages change only where a row falls in their range", "[live][unit]") {
  struct row {
    const char* title;
    change_kind kind;
    ids changed;
    bool group;
    std::vector<std::string> cursors;  // the cursor pages (their `after`) invalidated
    std::vector<std::uint64_t> pages;  // and the offset pages
  };
  // Cursor pages of 3: after "" = 1..3, after 3 = 4..6, after 9 = 10..12, after 12 = 13
  // (short, last); offset page 1 = 4..6 beside them, to show the difference.
  auto seeded_cursors = [](bool ordered) {
    page_index index(16, 3, ordered ? id_order(by_number) : id_order{}, true);
    index.record_cursor("", {"1", "2", "3"});
    index.record_cursor("3", {"4", "5", "6"});
    index.record_cursor("9", {"10", "11", "12"});
    index.record_cursor("12", {"13"});
    index.record(1, {"4", "5", "6"});
    return index;
  };
  const std::vector<row> table = {
      {"update: the cursor pages holding it", change_kind::updated, {"5"}, false, {"3"}, {1}},
      {"update on no page", change_kind::updated, {"8"}, false, {}, {}},
      {"insert inside one range: that page only (offset pages after shift)",
       change_kind::inserted,
       {"2"},
       false,
       {""},
       {1}},
      {"insert between ranges: no full page, the short tail is not after it",
       change_kind::inserted,
       {"8"},
       false,
       {},
       {}},
      {"insert past the end: the short last page",
       change_kind::inserted,
       {"20"},
       false,
       {"12"},
       {}},
      {"delete of a row: its page", change_kind::deleted, {"11"}, false, {"9"}, {}},
      {"delete of a cursor row itself: the page holding it, not the page after it",
       change_kind::deleted,
       {"3"},
       false,
       {""},
       {1}},
      {"unknown change: the group", change_kind::changed, {}, true, {}, {}},
  };
  for (const auto& r : table) {
    INFO(r.title);
    auto index = seeded_cursors(true);
    const auto plan = index.take(r.kind, r.changed);
    CHECK(plan.group == r.group);
    CHECK(plan.cursors == r.cursors);
    CHECK(plan.pages == r.pages);
    if (!r.group) {
      CHECK(index.cursor_pages() == 4 - r.cursors.size());  // named ones are forgotten
      CHECK(index.take(r.kind, r.changed).cursors.empty());
    }
  }
  // Without an order an insert's position is unknown: the group.
  auto unordered = seeded_cursors(false);
  CHECK(unordered.take(change_kind::inserted, {"8"}).group);
  // Fills judged by what they read.
  const auto index = seeded_cursors(true);
  CHECK(index.cursor_stale("3", {"4", "5", "6"}, {update_tag("5")}));
  CHECK_FALSE(index.cursor_stale("3", {"4", "5", "6"}, {update_tag("9")}));
  CHECK(index.cursor_stale("3", {"4", "5", "6"}, {shift_tag("4")}));
  CHECK_FALSE(index.cursor_stale("3", {"4", "5", "6"}, {shift_tag("2")}));  // before it
  CHECK_FALSE(index.cursor_stale("3", {"4", "5", "6"}, {shift_tag("7")}));  // after it
  CHECK(index.cursor_stale("12", {"13"}, {shift_tag("20")}));               // short page
  CHECK(index.cursor_stale("3", {"4", "5", "6"}, {"?x"}));
}

TEST_CASE("page_index: cursor pages are bounded on their own", "[live][unit]") {
  page_index index(2, 3, id_order{}, true);
  CHECK_FALSE(index.record_cursor("", {"a", "b", "c"}).has_value());
  CHECK_FALSE(index.record_cursor("c", {"d", "e", "f"}).has_value());
  CHECK_FALSE(index.record(0, {"a", "b", "c"}).has_value());          // offset pages count apart
  CHECK_FALSE(index.record_cursor("", {"x", "b", "c"}).has_value());  // refilled
  CHECK(index.cursors_holding("a").empty());
  CHECK(index.cursors_holding("x") == std::vector<std::string>{""});
  const auto dropped = index.record_cursor("f", {"g", "h", "i"});
  REQUIRE(dropped.has_value());
  CHECK(*dropped == "c");
  CHECK(index.cursors_holding("e").empty());
  CHECK(index.cursor_pages() == 2);
  index.clear();
  CHECK(index.cursor_pages() == 0);
  CHECK(index.size() == 0);
}
