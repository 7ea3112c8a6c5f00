// fill_guard without I/O: scripts of fills and writer scopes, each step with the outcome
// the contract in core/fill_guard.hpp promises.
#include "core/fill_guard.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

using larder::detail::fill_guard;

namespace {

enum class op {
  begin,    // fill `name` begins on `key`
  commit,   // try_commit(name) == expect
  end,      // end_fill(name)
  open,     // scope `name` opens on `key` (`exact`); dooms `doomed`, waits out `waiting`
  wait,     // when_clear(name) == expect (true: stored, resumes later)
  close,    // close(name)
  resumed,  // scope `name` has been resumed == expect
};

struct step {
  op what;
  std::string name;
  std::string key = {};
  bool exact = true;
  bool expect = true;
  std::size_t doomed = 0, waiting = 0;
};

struct scenario {
  const char* title;
  std::vector<step> steps;
};

// Shorthands for the table below.
step begin(std::string f, std::string key) {
  return {op::begin, std::move(f), std::move(key)};
}
step commit(std::string f, bool ok) {
  return {op::commit, std::move(f), {}, true, ok};
}
step end(std::string f) {
  return {op::end, std::move(f)};
}
step open(std::string s, std::string key, bool exact, std::size_t doomed, std::size_t waiting) {
  return {op::open, std::move(s), std::move(key), exact, true, doomed, waiting};
}
step wait(std::string s, bool stored) {
  return {op::wait, std::move(s), {}, true, stored};
}
step close(std::string s) {
  return {op::close, std::move(s)};
}
step resumed(std::string s, bool yes) {
  return {op::resumed, std::move(s), {}, true, yes};
}

const std::vector<scenario> scenarios = {
    {"a fill alone commits", {begin("f", "k"), commit("f", true), end("f")}},
    {"a fill begun under an open writer stands down",
     {open("s", "k", true, 0, 0), begin("f", "k"), commit("f", false), close("s")}},
    {"a writer opening between begin and commit dooms the fill",
     {begin("f", "k"), open("s", "k", true, 1, 0), commit("f", false), close("s")}},
    {"a writer of another key leaves the fill alone",
     {begin("f", "k"), open("s", "other", true, 0, 0), commit("f", true), end("f"), close("s")}},
    {"an exact writer is not a prefix",
     {open("s", "k", true, 0, 0), begin("f", "kk"), commit("f", true), end("f"), close("s")}},
    {"a prefix writer dooms the fills under it only",
     {begin("f", "page/1"), begin("g", "id/1"), open("s", "page/", false, 1, 0), commit("f", false),
      commit("g", true), end("g"), close("s")}},
    {"a prefix writer open at begin dooms the fill",
     {open("s", "page/", false, 0, 0), begin("f", "page/9"), commit("f", false), close("s")}},
    {"a writer waits out a fill already writing, and resumes when it ends",
     {begin("f", "k"), commit("f", true), open("s", "k", true, 0, 1), wait("s", true),
      resumed("s", false), end("f"), resumed("s", true), close("s")}},
    {"a writer with nothing to wait for is clear at once",
     {open("s", "k", true, 0, 0), wait("s", false), close("s")}},
    {"a writer waits out every fill writing under it",
     {begin("f", "p/1"), begin("g", "p/2"), commit("f", true), commit("g", true),
      open("s", "p/", false, 0, 2), wait("s", true), end("f"), resumed("s", false), end("g"),
      resumed("s", true), close("s")}},
    {"a fill ending before the writer registers its wait leaves it clear",
     {begin("f", "k"), commit("f", true), open("s", "k", true, 0, 1), end("f"), wait("s", false),
      close("s")}},
    {"a writer closed while waiting is never resumed",
     {begin("f", "k"), commit("f", true), open("s", "k", true, 0, 1), wait("s", true), close("s"),
      end("f"), resumed("s", false)}},
    {"a fill commits once", {begin("f", "k"), commit("f", true), commit("f", false), end("f")}},
    {"a fill begun after the writer closed commits",
     {open("s", "k", true, 0, 0), close("s"), begin("f", "k"), commit("f", true), end("f")}},
    {"two writers of one key: the fill stands down until both closed",
     {open("s1", "k", true, 0, 0), open("s2", "k", true, 0, 0), close("s1"), begin("f", "k"),
      commit("f", false), close("s2"), begin("g", "k"), commit("g", true), end("g"), end("f")}},
    {"a doomed fill is counted by the first writer only",
     {begin("f", "k"), open("s1", "k", true, 1, 0), open("s2", "k", true, 0, 0), close("s1"),
      close("s2"), commit("f", false), end("f")}},
    {"a writer opened after a fill ended does not wait for it",
     {begin("f", "k"), commit("f", true), end("f"), open("s", "k", true, 0, 0), wait("s", false),
      close("s")}},
};

}  // namespace

TEST_CASE("fill_guard: scripted fills and writers") {
  for (const auto& sc : scenarios) {
    SECTION(sc.title) {
      fill_guard guard;
      std::map<std::string, fill_guard::id> fills, scopes;
      std::set<std::string> resumed_scopes;
      for (std::size_t i = 0; i < sc.steps.size(); ++i) {
        const auto& s = sc.steps[i];
        INFO("step " << i << " (" << s.name << ")");
        switch (s.what) {
          case op::begin:
            fills[s.name] = guard.begin_fill(s.key);
            break;
          case op::commit:
            CHECK(guard.try_commit(fills.at(s.name)) == s.expect);
            break;
          case op::end:
            guard.end_fill(fills.at(s.name));
            break;
          case op::open: {
            const auto o = guard.open(s.key, s.exact);
            scopes[s.name] = o.scope;
            CHECK(o.doomed == s.doomed);
            CHECK(o.waiting == s.waiting);
            break;
          }
          case op::wait:
            CHECK(guard.when_clear(scopes.at(s.name), [&resumed_scopes, name = s.name] {
              CHECK(resumed_scopes.insert(name).second);  // once
            }) == s.expect);
            break;
          case op::close:
            guard.close(scopes.at(s.name));
            break;
          case op::resumed:
            CHECK(resumed_scopes.contains(s.name) == s.expect);
            break;
        }
      }
      // End every fill and close every scope (again, for those the script did: both are
      // idempotent): nothing is left behind.
      for (const auto& [name, f] : fills)
        guard.end_fill(f);
      for (const auto& [name, sc_id] : scopes)
        guard.close(sc_id);
      CHECK(guard.fills() == 0);
      CHECK(guard.scopes() == 0);
    }
  }
}

TEST_CASE("fill_guard: tickets and scopes end on every path") {
  fill_guard guard;
  {
    larder::detail::fill_ticket t(guard, "k");
    CHECK(guard.fills() == 1);
    {
      larder::detail::writer_scope w(guard, guard.open("k", true));
      CHECK(w.doomed() == 1);
      CHECK(guard.scopes() == 1);
    }
    CHECK(guard.scopes() == 0);
    CHECK_FALSE(t.try_commit());
  }
  CHECK(guard.fills() == 0);
  try {
    larder::detail::fill_ticket t(guard, "k");
    REQUIRE(t.try_commit());
    throw std::runtime_error("a tier's put threw");
  } catch (const std::runtime_error&) {
  }
  CHECK(guard.fills() == 0);
}
