// live_table cursor pages (keyset pagination): cached under `after/<id>`, an insert or
// delete clears only the cursor page whose range it falls in, updates clear the pages
// holding the row, the stale-fill race is guarded, and optimistic writes rewrite them.
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <catch2/catch.hpp>

#include "support/io_runner.hpp"
#include "support/live_fixture.hpp"

using namespace larder;
using namespace larder::testing;
using namespace std::chrono_literals;

namespace {
live_table_options cursor_options(std::string key) {
  auto o = table_options(std::move(key), 10);
  o.invalidation = invalidation_mode::rows;
  o.id_order = [](std::string_view a, std::string_view b) { return a < b; };  // r0000 < r0001
  return o;
}
std::vector<std::string> keys(const std::string& g, std::vector<std::string> tails) {
  for (auto& t : tails)
    t = g + "/" + t;
  return tails;
}
}  // namespace

TEMPLATE_TEST_CASE("live_table cursor pages: an insert clears only the page it falls in", "[live]",
                   memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  source->seed(40);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, cursor_options("k"));
    auto first = co_await table->page_after("");
    REQUIRE(first.has_value());
    REQUIRE(first->size() == 10);
    CHECK(first->rows.front().id == "r0000");
    CHECK(first->rows.back().id == "r0009");
    (void)co_await table->page_after("r0009");
    (void)co_await table->page_after("r0019");
    (void)co_await table->page(1);  // an offset page beside them, to show the difference
    const int fetched = source->cursor_fetches;
    auto again = co_await table->page_after("r0009");
    CHECK(source->cursor_fetches == fetched);  // a hit
    REQUIRE(again.has_value());
    CHECK(again->rows.front().id == "r0010");
    // "r0015a" sorts inside (r0009, r0019]: that cursor page changes, no other.
    const json row{{"v", 1}};
    auto w = co_await table->insert(row, "r0015a");
    REQUIRE(w.has_value());
    const std::vector<std::string> ks1 =
        keys("k", {"after/", "after/r0009", "after/r0019", "page/1"});
    auto held = co_await which_stored(backing.store, ks1);
    CHECK(held == std::vector<bool>{true, false, true, false});
    auto moved = co_await table->page_after("r0009");
    REQUIRE(moved.has_value());
    REQUIRE(moved->find("r0015a") != nullptr);
    CHECK(moved->rows.back().id == "r0018");
    // An update clears the cursor page holding the row; a delete likewise.
    source->set_direct("r0025", json{{"n", 25}, {"v", 7}});
    source->emit(change_kind::updated, "r0025");
    const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
    REQUIRE(seen);
    const std::vector<std::string> ks2 = keys("k", {"after/", "after/r0009", "after/r0019"});
    held = co_await which_stored(backing.store, ks2);
    CHECK(held == std::vector<bool>{true, true, false});
    auto updated = co_await table->page_after("r0019");
    REQUIRE(updated.has_value());
    REQUIRE(updated->find("r0025") != nullptr);
    CHECK((*updated->find("r0025"))["v"] == 7);
    auto d = co_await table->erase("r0003");
    REQUIRE(d.has_value());
    held = co_await which_stored(backing.store, ks2);
    CHECK(held == std::vector<bool>{false, true, true});
    CHECK(table->metrics().invalidations == 4);  // open, insert, event, erase: none by group
    CHECK(table->metrics().row_invalidations == 3);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table cursor pages: a fill that read a row changed meanwhile is dropped",
          "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  turnstile gate(runner.context().get_executor());
  source->seed(30);
  source->fetch_gate = &gate;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, cursor_options("s"));
    source->block_fetches = 1;
    result<row_set<json>> read = errc::loader_failed;
    bool done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          read = co_await table->page_after("r0009");
          done = true;
        },
        asio::detached);
    co_await gate.arrival();  // the fetch read the old r0012 and is held
    source->set_direct("r0012", json{{"n", 12}, {"v", 5}});
    source->emit(change_kind::updated, "r0012");
    const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
    REQUIRE(seen);
    gate.release();
    const bool finished = co_await eventually([&] { return done; });
    REQUIRE(finished);
    REQUIRE(read.has_value());
    CHECK(table->metrics().fills_dropped == 1);
    const std::vector<std::string> ks = keys("s", {"after/r0009"});
    auto held = co_await which_stored(backing.store, ks);
    CHECK(held == std::vector<bool>{false});
    auto fresh = co_await table->page_after("r0009");
    REQUIRE(fresh.has_value());
    CHECK((*fresh->find("r0012"))["v"] == 5);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table cursor pages: an optimistic update rewrites them", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<returning_source>(runner.context().get_executor(), 16, false);
  source->seed(30);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto options = cursor_options("w");
    options.optimistic_writes = true;
    auto table = co_await open_table(ex, backing.store, source, options);
    (void)co_await table->page_after("r0009");
    const json v{{"v", 3}};
    auto w = co_await table->patch("r0014", v);
    REQUIRE(w.has_value());
    CHECK(table->metrics().patches == 2);  // the row and the cursor page
    const int fetched = source->cursor_fetches;
    auto page = co_await table->page_after("r0009");
    CHECK(source->cursor_fetches == fetched);
    REQUIRE(page.has_value());
    CHECK((*page->find("r0014"))["v"] == 3);
    (void)co_await table->shutdown();
  });
}
