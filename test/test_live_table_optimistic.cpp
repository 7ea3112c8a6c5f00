// live_table with optimistic_writes: a completed write stores the row the master returned
// (and an update rewrites the cached pages holding it), unless another change overlapped
// the write; the option is refused where it cannot be kept.
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include "support/io_runner.hpp"
#include "support/live_fixture.hpp"

using namespace larder;
using namespace larder::testing;
using namespace std::chrono_literals;

namespace {
live_table_options optimistic_options(std::string key) {
  auto o = table_options(std::move(key), 10);
  o.invalidation = invalidation_mode::rows;
  o.id_order = [](std::string_view a, std::string_view b) { return a < b; };
  o.optimistic_writes = true;
  return o;
}
std::vector<std::string> keys(const std::string& g, std::vector<std::string> tails) {
  for (auto& t : tails)
    t = g + "/" + t;
  return tails;
}
struct write_outcome {
  result<write_receipt> receipt = errc::loader_failed;
  bool done = false;
};
}  // namespace

TEMPLATE_TEST_CASE("live_table optimistic: an update rewrites its row and the pages holding it",
                   "[live]", memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<returning_source>(runner.context().get_executor(), 16, false);
  source->seed(50);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, optimistic_options("o"));
    for (std::uint64_t p = 0; p < 3; ++p)
      (void)co_await table->page(p);
    (void)co_await table->row("r0012");
    const json v{{"v", 9}};
    auto w = co_await table->patch("r0012", v);
    REQUIRE(w.has_value());
    CHECK(source->returned == 1);
    CHECK(table->metrics().patches == 2);  // the row and page 1
    const std::vector<std::string> ks1 = keys("o", {"page/0", "page/1", "id/r0012"});
    auto held = co_await which_stored(backing.store, ks1);
    CHECK(held == std::vector<bool>{true, true, true});
    const int page_fetches = source->page_fetches, row_fetches = source->row_fetches;
    const auto hits = table->metrics().page_hits, row_hits = table->metrics().row_hits;
    auto page = co_await table->page(1);
    REQUIRE(page.has_value());
    REQUIRE(page->find("r0012") != nullptr);
    CHECK(*page->find("r0012") == json({{"n", 12}, {"v", 9}}));  // the merged row
    CHECK(page->size() == 10);
    CHECK(page->rows.front().id == "r0010");
    auto row = co_await table->row("r0012");
    REQUIRE(row.has_value());
    REQUIRE(row->has_value());
    CHECK(**row == json({{"n", 12}, {"v", 9}}));
    CHECK(source->page_fetches == page_fetches);  // both served from the cache
    CHECK(source->row_fetches == row_fetches);
    CHECK(table->metrics().page_hits == hits + 1);
    CHECK(table->metrics().row_hits == row_hits + 1);
    // The rewritten page is indexed again: an event for another of its rows clears it.
    source->set_direct("r0013", json{{"n", 13}, {"v", 4}});
    source->emit(change_kind::updated, "r0013");
    const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
    REQUIRE(seen);
    const std::vector<std::string> ks2 = keys("o", {"page/1"});
    held = co_await which_stored(backing.store, ks2);
    CHECK(held == std::vector<bool>{false});
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table optimistic: inserts and erases store the row's own entry", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<returning_source>(runner.context().get_executor(), 16, false);
  source->seed(40);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, optimistic_options("ie"));
    for (std::uint64_t p = 0; p < 4; ++p)
      (void)co_await table->page(p);
    const json row{{"v", 1}};
    auto w = co_await table->insert(row, "r0015a");
    REQUIRE(w.has_value());
    // The pages shifted: they go. The new row's entry is there.
    const std::vector<std::string> ks3 = keys("ie", {"page/0", "page/1", "page/2", "id/r0015a"});
    auto held = co_await which_stored(backing.store, ks3);
    CHECK(held == std::vector<bool>{true, false, false, true});
    const int fetches = source->row_fetches;
    auto got = co_await table->row("r0015a");
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK(**got == row);
    auto d = co_await table->erase("r0035");
    REQUIRE(d.has_value());
    auto gone = co_await table->row("r0035");
    REQUIRE(gone.has_value());
    CHECK_FALSE(gone->has_value());  // the erase's answer, cached: no fetch
    CHECK(source->row_fetches == fetches);
    CHECK(table->metrics().patches == 2);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table optimistic: a change during the write keeps the rewrites out", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<returning_source>(runner.context().get_executor(), 16, false);
  turnstile gate(runner.context().get_executor());
  source->seed(30);
  source->apply_gate = &gate;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, optimistic_options("c"));
    (void)co_await table->page(1);
    (void)co_await table->row("r0012");
    source->block_applies = 1;
    write_outcome w;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          const json v{{"v", 9}};
          w.receipt = co_await table->patch("r0012", v);
          w.done = true;
        },
        asio::detached);
    co_await gate.arrival();  // the write's rewrites have begun; the source holds it
    // Another client changes the same row, and the table hears of it before the write
    // lands: what the write would store may already be older than the master's row.
    source->set_direct("r0012", json{{"n", 12}, {"v", 5}, {"w", 1}});
    source->emit(change_kind::updated, "r0012");
    const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
    REQUIRE(seen);
    gate.release();
    const bool finished = co_await eventually([&] { return w.done; });
    REQUIRE(finished);
    REQUIRE(w.receipt.has_value());
    CHECK(table->metrics().patches == 0);
    CHECK(table->metrics().patches_dropped == 2);
    const std::vector<std::string> ks4 = keys("c", {"page/1", "id/r0012"});
    auto held = co_await which_stored(backing.store, ks4);
    CHECK(held == std::vector<bool>{false, false});
    auto row = co_await table->row("r0012");
    REQUIRE(row.has_value());
    REQUIRE(row->has_value());
    CHECK(**row == json({{"n", 12}, {"v", 9}, {"w", 1}}));  // the master's, refetched
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table optimistic: a tagged echo leaves the rewrite, an untagged one clears it",
          "[live]") {
  for (const bool tagged : {true, false}) {
    DYNAMIC_SECTION((tagged ? "tagged" : "untagged")) {
      io_runner runner;
      memory_backing backing(runner.context());
      auto source = std::make_shared<returning_source>(runner.context().get_executor(), 16, true);
      source->echo_tags = tagged;
      source->seed(30);
      runner.run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto table = co_await open_table(ex, backing.store, source, optimistic_options("e"));
        (void)co_await table->row("r0003");
        const json v{{"v", 2}};
        auto w = co_await table->patch("r0003", v);
        REQUIRE(w.has_value());
        const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
        REQUIRE(seen);
        CHECK(table->metrics().echoes_skipped == (tagged ? 1u : 0u));
        const std::vector<std::string> ks5 = keys("e", {"id/r0003"});
        auto held = co_await which_stored(backing.store, ks5);
        // Untagged, the echo is another change as far as the table knows: whether it came
        // before the rewrite landed (dropped) or after (cleared), the entry is gone.
        CHECK(held == std::vector<bool>{tagged});
        auto row = co_await table->row("r0003");
        REQUIRE(row.has_value());
        REQUIRE(row->has_value());
        CHECK(**row == json({{"n", 3}, {"v", 2}}));
        (void)co_await table->shutdown();
      });
    }
  }
}

TEST_CASE("live_table optimistic: refused without rows mode or a returning source", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto returning = std::make_shared<returning_source>(runner.context().get_executor(), 16, false);
  auto plain = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto group = optimistic_options("r");
    group.invalidation = invalidation_mode::group;
    auto a = co_await json_table<returning_source>::open(ex, backing.store, returning, group);
    REQUIRE_FALSE(a.has_value());
    CHECK(a.error() == make_error_code(errc::invalid_argument));
    const auto rows = optimistic_options("r");
    auto b = co_await json_table<evented_source>::open(ex, backing.store, plain, rows);
    REQUIRE_FALSE(b.has_value());
    CHECK(b.error() == make_error_code(errc::invalid_argument));
    auto c = co_await json_table<returning_source>::open(ex, backing.store, returning, rows);
    REQUIRE(c.has_value());
    (void)co_await (*c)->shutdown();
  });
}
