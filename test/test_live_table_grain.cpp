// live_table with invalidation_mode::rows: a change clears its row and only the pages it
// concerns; lost events fall back to the group; echoes of the table's own writes are
// skipped; two tables with different filters over one master each clear their own pages.
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include "support/io_runner.hpp"
#include "support/live_fixture.hpp"

using namespace larder;
using namespace larder::testing;
using namespace std::chrono_literals;

namespace {
live_table_options rows_options(std::string key, std::uint64_t page_size = 10) {
  auto o = table_options(std::move(key), page_size);
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

TEMPLATE_TEST_CASE("live_table rows: an update clears only its row and the pages holding it",
                   "[live]", memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  source->seed(50);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, rows_options("g"));
    for (std::uint64_t p = 0; p < 4; ++p)
      (void)co_await table->page(p);
    const std::vector<std::string> rows{"r0012", "r0025"};
    for (const auto& id : rows)
      (void)co_await table->row(id);
    // A write through the table: row 12 is on page 1.
    const json v{{"v", 9}};
    auto w = co_await table->patch("r0012", v);
    REQUIRE(w.has_value());
    const std::vector<std::string> ks1 =
        keys("g", {"page/0", "page/1", "page/2", "page/3", "id/r0012", "id/r0025"});
    auto held = co_await which_stored(backing.store, ks1);
    CHECK(held == std::vector<bool>{true, false, true, true, false, true});
    auto page = co_await table->page(1);
    REQUIRE(page.has_value());
    CHECK((*page->find("r0012"))["v"] == 9);  // read-your-writes
    // An event for row 25 (page 2).
    source->set_direct("r0025", json{{"n", 25}, {"v", 3}});
    source->emit(change_kind::updated, "r0025");
    const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
    REQUIRE(seen);
    const std::vector<std::string> ks2 =
        keys("g", {"page/0", "page/1", "page/2", "page/3", "id/r0025"});
    held = co_await which_stored(backing.store, ks2);
    CHECK(held == std::vector<bool>{true, true, false, true, false});
    // An event for a row on no cached page: only its row key.
    (void)co_await table->row("r0045");
    source->emit(change_kind::updated, "r0045");
    const bool seen2 = co_await eventually([&] { return table->metrics().events == 2; });
    REQUIRE(seen2);
    const std::vector<std::string> ks3 = keys("g", {"page/0", "page/1", "page/3", "id/r0045"});
    held = co_await which_stored(backing.store, ks3);
    CHECK(held == std::vector<bool>{true, true, true, false});
    CHECK(table->metrics().row_invalidations == 3);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table rows: an insert clears the pages from its position onward", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  source->seed(40);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, rows_options("ins"));
    for (std::uint64_t p = 0; p < 4; ++p)
      (void)co_await table->page(p);
    // "r0015a" sorts between r0015 and r0016: page 1 and every page after it shift.
    const json row1{{"v", 1}};
    auto w = co_await table->insert(row1, "r0015a");
    REQUIRE(w.has_value());
    const std::vector<std::string> ks4 = keys("ins", {"page/0", "page/1", "page/2", "page/3"});
    auto held = co_await which_stored(backing.store, ks4);
    CHECK(held == std::vector<bool>{true, false, false, false});
    auto p2 = co_await table->page(2);
    REQUIRE(p2.has_value());
    CHECK(p2->rows.front().id == "r0019");  // shifted by one
    // A delete in page 3's range leaves pages 0..2 alone.
    (void)co_await table->page(1);
    (void)co_await table->page(3);
    auto d = co_await table->erase("r0035");
    REQUIRE(d.has_value());
    const std::vector<std::string> ks5 = keys("ins", {"page/0", "page/1", "page/2", "page/3"});
    held = co_await which_stored(backing.store, ks5);
    CHECK(held == std::vector<bool>{true, true, true, false});
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table rows: overflow and lag fall back to the group", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  source->seed(30);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, rows_options("lo"));
    const std::vector<change_kind> kinds{change_kind::overflow, change_kind::lagged,
                                         change_kind::reconnected, change_kind::changed};
    for (const auto kind : kinds) {
      for (std::uint64_t p = 0; p < 3; ++p)
        (void)co_await table->page(p);
      const auto before = table->metrics().events;
      source->emit(kind);
      const bool handled =
          co_await eventually([&] { return table->metrics().events == before + 1; });
      REQUIRE(handled);
      const std::vector<std::string> ks6 = keys("lo", {"page/0", "page/1", "page/2"});
      auto held = co_await which_stored(backing.store, ks6);
      CHECK(held == std::vector<bool>{false, false, false});
    }
    CHECK(table->metrics().row_invalidations == 0);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table rows: the stale-fill race, with a row's update and a page in flight",
          "[live][concurrency]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  turnstile gate(runner.context().get_executor());
  source->seed(10);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, rows_options("race"));
    source->fetch_gate = &gate;
    source->block_fetches = 1;
    bool a_done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          (void)co_await table->page(0);  // 1. reads v=0 and is held
          a_done = true;
        },
        asio::detached);
    co_await gate.arrival();
    const json row2{{"v", 1}};
    auto w = co_await table->patch("r0003", row2);  // 2. acknowledged
    REQUIRE(w.has_value());
    auto c = co_await table->page(0);  // 3. does not join A's fetch
    REQUIRE(c.has_value());
    CHECK((*c->find("r0003"))["v"] == 1);
    gate.release();  // 4. A's rows hold r0003: they must not land
    const bool finished = co_await eventually([&] { return a_done; });
    REQUIRE(finished);
    CHECK(table->metrics().fills_dropped == 1);
    auto d = co_await table->page(0);
    REQUIRE(d.has_value());
    CHECK((*d->find("r0003"))["v"] == 1);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table: events echoing the table's own writes are skipped", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 64, true);
  source->echo_tags = true;
  source->seed(20);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, rows_options("echo"));
    for (int i = 0; i < 3; ++i) {
      const json row3{{"v", i}};
      auto w = co_await table->patch("r0001", row3);
      REQUIRE(w.has_value());
      (void)co_await table->page(0);
    }
    const bool seen = co_await eventually([&] { return table->metrics().events == 3; });
    REQUIRE(seen);
    CHECK(table->metrics().echoes_skipped == 3);
    const bool held = co_await stored(backing.store, "echo/page/0");
    CHECK(held);  // the echo of the last write did not clear the page refilled after it
    // Another client's change, untagged, still clears it.
    source->emit(change_kind::updated, "r0002");
    const bool again = co_await eventually([&] { return table->metrics().events == 4; });
    REQUIRE(again);
    const bool gone = co_await stored(backing.store, "echo/page/0");
    CHECK_FALSE(gone);
    CHECK(table->metrics().echoes_skipped == 3);
    (void)co_await table->shutdown();
  });
}

namespace {
// One master seen through a filter: only rows whose number has the given parity.
class parity_view {
 public:
  using row_type = json;
  parity_view(std::shared_ptr<memory_source> master, int parity)
      : master_(std::move(master)), parity_(parity) {}
  asio::awaitable<result<row_list<json>>> fetch_page(page_request page) {
    page_request all{0, 1000};
    auto rows = co_await master_->fetch_page(all);
    if (!rows) co_return rows.error();
    row_list<json> mine, out;
    for (auto& r : *rows)
      if (std::stoi(r.first.substr(1)) % 2 == parity_) mine.push_back(r);
    for (std::size_t i = page.number * page.size; i < mine.size() && out.size() < page.size; ++i)
      out.push_back(mine[i]);
    co_return out;
  }
  asio::awaitable<result<std::optional<json>>> fetch_row(std::string_view id) {
    return master_->fetch_row(id);
  }
  asio::awaitable<result<write_receipt>> apply(write_op<json> op) {
    return master_->apply(std::move(op));
  }

 private:
  std::shared_ptr<memory_source> master_;
  int parity_;
};
}  // namespace

TEST_CASE("live_table rows: two tables with different filters over one master", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto master = std::make_shared<memory_source>(runner.context().get_executor());
  master->seed(40);
  auto even = std::make_shared<parity_view>(master, 0);
  auto odd = std::make_shared<parity_view>(master, 1);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto te = co_await open_table(ex, backing.store, even, rows_options("even", 5));
    auto to = co_await open_table(ex, backing.store, odd, rows_options("odd", 5));
    for (std::uint64_t p = 0; p < 4; ++p) {
      (void)co_await te->page(p);
      (void)co_await to->page(p);
    }
    // r0012 is the even table's 7th row (page 1); the odd table holds no such row.
    const json row4{{"v", 5}};
    auto w = co_await te->patch("r0012", row4);
    REQUIRE(w.has_value());
    const std::vector<std::string> ks7 =
        std::vector<std::string>{"even/page/0", "even/page/1", "even/page/2", "odd/page/0",
                                 "odd/page/1",  "odd/page/2",  "odd/page/3"};
    auto held = co_await which_stored(backing.store, ks7);
    CHECK(held == std::vector<bool>{true, false, true, true, true, true, true});
    auto page = co_await te->page(1);
    REQUIRE(page.has_value());
    CHECK((*page->find("r0012"))["v"] == 5);
    (void)co_await te->shutdown();
    (void)co_await to->shutdown();
  });
}
