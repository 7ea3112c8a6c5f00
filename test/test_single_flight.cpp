// flight_table and flight_lead without I/O: waiters are plain recorders, and the leader's
// guard is driven by hand (finished, abandoned, unwound by a throw).
#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/single_flight.hpp"

using namespace larder;
using larder::detail::flight_lead;
using larder::detail::flight_table;

namespace {

// A waiter that records what it was completed with (no executor, no post).
struct outcome_log {
  std::vector<std::string> seen;  // "value:<bytes>" or "error:<message>"
};
class recording_waiter final : public detail::flight_waiter {
 public:
  explicit recording_waiter(std::shared_ptr<outcome_log> log) : log_(std::move(log)) {}
  void complete(result<blob> outcome) override {
    log_->seen.push_back(outcome ? "value:" + std::string(outcome->view())
                                 : "error:" + outcome.error().message());
  }
  void on_cancel(std::function<void()>) override {}

 private:
  std::shared_ptr<outcome_log> log_;
};
std::unique_ptr<detail::flight_waiter> waiter(const std::shared_ptr<outcome_log>& log) {
  return std::make_unique<recording_waiter>(log);
}

enum class op { join, detach_key, detach_prefix, leave_first, leave_last };
struct step {
  op what;
  std::string key;
  bool expect_leader_or_current;  // join: leader; leave: still current
  std::size_t expect_size;        // flights in the table after the step
  std::size_t expect_detached = 0;
};

}  // namespace

TEST_CASE("flight_table: joins, detaches and leaves") {
  struct scenario {
    const char* title;
    std::vector<step> steps;
  };
  const std::vector<scenario> scenarios = {
      {"the first caller leads, the next joins",
       {{op::join, "k", true, 1}, {op::join, "k", false, 1}, {op::leave_first, "k", true, 0}}},
      {"keys fly apart", {{op::join, "a", true, 1}, {op::join, "b", true, 2}}},
      {"a detached flight is not joined, and its leader learns it is not current",
       {{op::join, "k", true, 1},
        {op::detach_key, "k", false, 0, 1},
        {op::join, "k", true, 1},
        {op::leave_first, "k", false, 1},
        {op::leave_last, "k", true, 0},
        {op::leave_last, "k", false, 0}}},
      {"a prefix detaches the keys under it only",
       {{op::join, "page/1", true, 1},
        {op::join, "page/2", true, 2},
        {op::join, "id/1", true, 3},
        {op::detach_prefix, "page/", false, 1, 2},
        {op::join, "page/1", true, 2}}},
      {"an exact detach is not a prefix",
       {{op::join, "kk", true, 1}, {op::detach_key, "k", false, 1, 0}, {op::join, "kk", false, 1}}},
      {"detaching nothing", {{op::detach_prefix, "", false, 0, 0}}},
  };
  for (const auto& sc : scenarios) {
    SECTION(sc.title) {
      flight_table table;
      auto log = std::make_shared<outcome_log>();
      std::vector<std::shared_ptr<detail::flight>> led;  // flights this script leads
      for (std::size_t i = 0; i < sc.steps.size(); ++i) {
        const auto& s = sc.steps[i];
        INFO("step " << i);
        switch (s.what) {
          case op::join: {
            auto joined = table.join(s.key, waiter(log));
            CHECK(joined.leader == s.expect_leader_or_current);
            if (joined.leader) led.push_back(joined.f);
            break;
          }
          case op::detach_key:
            CHECK(table.detach(s.key, true) == s.expect_detached);
            break;
          case op::detach_prefix:
            CHECK(table.detach(s.key, false) == s.expect_detached);
            break;
          case op::leave_first:
            CHECK(table.leave(s.key, led.front().get()) == s.expect_leader_or_current);
            break;
          case op::leave_last:
            CHECK(table.leave(s.key, led.back().get()) == s.expect_leader_or_current);
            break;
        }
        CHECK(table.size() == s.expect_size);
      }
    }
  }
}

TEST_CASE("flight_table: a background refresh starts only when no flight is current") {
  flight_table table;
  auto log = std::make_shared<outcome_log>();
  auto f = table.start_if_idle("k");
  REQUIRE(f);
  CHECK_FALSE(table.start_if_idle("k"));
  auto joined = table.join("k", waiter(log));  // a reader joins the refresh
  CHECK_FALSE(joined.leader);
  CHECK(joined.f == f);
  table.detach("k", true);
  CHECK(table.start_if_idle("k"));
}

TEST_CASE("flight_lead: every way a leader ends completes each waiter exactly once") {
  struct row {
    const char* how;
    bool set_outcome, finish, throws;
    std::string expected;
  };
  const auto cancelled = "error:" + make_error_code(errc::cancelled).message();
  const std::vector<row> rows = {
      {"finished with a value", true, true, false, "value:v"},
      {"finished with an error", false, true, false,
       "error:" + make_error_code(errc::loader_failed).message()},
      {"a throw after the load: waiters get the loaded value", true, false, true, "value:v"},
      {"a throw before any outcome", false, false, true, cancelled},
      {"abandoned (frame destroyed) after the load", true, false, false, "value:v"},
      {"abandoned before any outcome", false, false, false, cancelled},
  };
  for (const auto& r : rows) {
    SECTION(r.how) {
      flight_table table;
      auto log = std::make_shared<outcome_log>();
      auto joined = table.join("k", waiter(log));
      REQUIRE(joined.leader);
      table.join("k", waiter(log));
      table.join("k", waiter(log));
      int leaves = 0;
      try {
        flight_lead lead(joined.f, [&](const detail::flight* f) {
          ++leaves;
          table.leave("k", f);
        });
        if (r.set_outcome) lead.set_outcome(blob::copy_of(std::string_view("v")));
        if (r.throws) throw std::runtime_error("install threw");
        if (r.finish) {
          if (r.set_outcome)
            lead.finish(blob::copy_of(std::string_view("v")));
          else
            lead.finish(errc::loader_failed);
          CHECK(lead.finished());
        }
      } catch (const std::runtime_error&) {
      }
      CHECK(leaves == 1);
      CHECK(table.size() == 0);
      REQUIRE(log->seen.size() == 3);
      for (const auto& seen : log->seen)
        CHECK(seen == r.expected);
      // A waiter arriving now starts a new flight: nothing stranded in the table.
      CHECK(table.join("k", waiter(log)).leader);
    }
  }
}
