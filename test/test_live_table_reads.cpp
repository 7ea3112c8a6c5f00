// live_table reads: the codec, keys, hits and misses, one fetch for concurrent misses,
// group isolation between tables, max age and stale-while-revalidate.
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "support/io_runner.hpp"
#include "support/live_fixture.hpp"

using namespace larder;
using namespace larder::testing;
using namespace std::chrono_literals;

TEST_CASE("json_row_codec keeps order and fetch time, and refuses foreign bytes", "[live]") {
  json_row_codec codec;
  row_set<json> set;
  set.fetched_at = std::chrono::system_clock::now();
  set.rows.push_back({"z", json{{"a", 1}}});
  set.rows.push_back({"a", json{{"b", json::binary({1, 2, 3})}}});
  set.rows.push_back({"m", json(nullptr)});
  auto bytes = codec.encode(set);
  REQUIRE(bytes.has_value());
  auto back = codec.decode(bytes->view());
  REQUIRE(back.has_value());
  REQUIRE(back->rows.size() == 3);
  CHECK(back->rows[0].id == "z");
  CHECK(back->rows[1].id == "a");
  CHECK(back->rows[2].id == "m");
  CHECK(back->rows[1].record == set.rows[1].record);
  CHECK(back->fetched_at == set.fetched_at);
  CHECK(back->find("a") != nullptr);
  CHECK(back->find("q") == nullptr);

  CHECK(codec.decode("not cbor at all").error() == make_error_code(errc::corrupt_entry));
  const auto other = json::to_cbor(json::array({"something.else", 1, 0, json::array()}));
  CHECK(codec.decode(std::string_view(reinterpret_cast<const char*>(other.data()), other.size()))
            .error() == make_error_code(errc::corrupt_entry));
  const auto truncated = bytes->view().substr(0, bytes->size() - 3);
  CHECK_FALSE(codec.decode(truncated).has_value());
}

TEST_CASE("live_table: keys follow the contract and bad cache keys are refused", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    for (std::string bad : {"", "a/b", "/"}) {
      auto options = table_options(bad);
      auto opened = co_await json_table<memory_source>::open(ex, backing.store, source, options);
      CHECK(opened.error() == make_error_code(errc::invalid_argument));
    }
    auto options = table_options("orders");
    auto table = co_await open_table(ex, backing.store, source, std::move(options));
    CHECK(table->group_prefix() == "orders/");
    CHECK(table->page_key(3) == "orders/page/3");
    CHECK(table->row_key("r0007") == "orders/id/r0007");
    const auto report = co_await table->shutdown();
    REQUIRE(report.has_value());
    CHECK(report->mode == shutdown_mode::drain);
  });
}

TEMPLATE_TEST_CASE("live_table: a miss fetches and stores, a hit comes from the store", "[live]",
                   memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(25);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("t", 10));
    auto first = co_await table->page(1);
    REQUIRE(first.has_value());
    REQUIRE(first->rows.size() == 10);
    CHECK(first->rows.front().id == "r0010");
    CHECK(first->rows.back().id == "r0019");
    {
      const bool s_ = co_await stored(backing.store, "t/page/1");
      CHECK(s_);
    }
    auto second = co_await table->page(1);
    REQUIRE(second.has_value());
    CHECK(second->rows.size() == 10);
    CHECK(second->fetched_at == first->fetched_at);  // the stored set, not a refetch
    CHECK(source->page_fetches.load() == 1);

    auto last = co_await table->page(2);
    REQUIRE(last.has_value());
    CHECK(last->rows.size() == 5);

    auto row = co_await table->row("r0003");
    REQUIRE(row.has_value());
    REQUIRE(row->has_value());
    CHECK((**row)["n"] == 3);
    auto none = co_await table->row("nope");
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());
    auto none_again = co_await table->row("nope");
    CHECK(none_again.has_value());
    CHECK(source->row_fetches.load() == 2);  // the absent row is cached too

    const auto m = table->metrics();
    CHECK(m.page_hits == 1);
    CHECK(m.page_misses == 2);
    CHECK(m.row_hits == 1);
    CHECK(m.row_misses == 2);
    CHECK(m.fills == 4);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table: a damaged entry is refetched, counted, and replaced", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(5);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("t", 10));
    const auto ec = co_await backing.store.put("t/page/0", blob::copy_of("garbage"));
    REQUIRE_FALSE(ec);
    auto page = co_await table->page(0);
    REQUIRE(page.has_value());
    CHECK(page->rows.size() == 5);
    CHECK(table->metrics().decode_faults == 1);
    auto again = co_await table->page(0);
    CHECK(again.has_value());
    CHECK(table->metrics().page_hits == 1);
    (void)co_await table->shutdown();
  });
}

TEMPLATE_TEST_CASE("live_table: concurrent misses on one page share one fetch",
                   "[live][concurrency]", memory_backing, disk_backing) {
  io_runner runner(2);
  TestType backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(30);
  source->fetch_delay = 50ms;
  constexpr int readers = 8;
  std::atomic<int> ok{0}, right_rows{0};
  live_table_metrics m;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("t", 10));
    auto reader = [&](int) -> asio::awaitable<void> {
      auto page = co_await table->page(2);
      if (page) {
        ok.fetch_add(1);
        if (page->rows.size() == 10 && page->rows.front().id == "r0020") right_rows.fetch_add(1);
      }
    };
    co_await run_all(ex, readers, reader);
    m = table->metrics();
    (void)co_await table->shutdown();
  });
  CHECK(ok.load() == readers);
  CHECK(right_rows.load() == readers);
  CHECK(source->page_fetches.load() == 1);
  CHECK(m.fetches == 1);
  CHECK(m.shared_fetches == readers - 1);
  CHECK(m.fills == 1);
}

TEMPLATE_TEST_CASE("live_table: tables `client` and `clients` never clear each other", "[live]",
                   memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto a_source = std::make_shared<memory_source>(runner.context().get_executor());
  auto b_source = std::make_shared<memory_source>(runner.context().get_executor());
  a_source->seed(5);
  b_source->seed(5);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto client = co_await open_table(ex, backing.store, a_source, table_options("client"));
    auto clients = co_await open_table(ex, backing.store, b_source, table_options("clients"));
    // Opening `clients` invalidated its own group only; fill both.
    (void)co_await client->page(0);
    (void)co_await clients->page(0);
    (void)co_await clients->row("r0001");
    const std::vector<std::string> probe{"client/page/0", "clients/page/0", "clients/id/r0001"};
    auto held = co_await which_stored(backing.store, probe);
    REQUIRE(held == std::vector<bool>{true, true, true});

    const json v1{{"v", 1}};
    auto w = co_await client->replace("r0001", v1);
    REQUIRE(w.has_value());
    held = co_await which_stored(backing.store, probe);
    CHECK(held == std::vector<bool>{false, true, true});  // only `client/` went

    (void)co_await client->page(0);
    auto w2 = co_await clients->erase_all();
    REQUIRE(w2.has_value());
    held = co_await which_stored(backing.store, probe);
    CHECK(held == std::vector<bool>{true, false, false});  // only `clients/` went
    (void)co_await client->shutdown();
    (void)co_await clients->shutdown();
  });
}

TEST_CASE("live_table: rows older than max_age are refetched", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(5);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto options = table_options("t");
    options.max_age = 100ms;
    auto table = co_await open_table(ex, backing.store, source, std::move(options));
    auto first = co_await table->page(0);
    REQUIRE(first.has_value());
    (void)co_await table->page(0);
    CHECK(source->page_fetches.load() == 1);
    co_await sleep_for(150ms);
    auto aged = co_await table->page(0);
    REQUIRE(aged.has_value());
    CHECK(aged->fetched_at > first->fetched_at);
    CHECK(source->page_fetches.load() == 2);
    CHECK(table->metrics().stale_served == 0);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table: stale-while-revalidate serves stale once and refreshes once", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  turnstile gate(runner.context().get_executor());
  source->seed(5);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto options = table_options("t");
    options.max_age = 100ms;
    options.stale_while_revalidate = true;
    auto table = co_await open_table(ex, backing.store, source, std::move(options));
    auto first = co_await table->page(0);
    REQUIRE(first.has_value());
    co_await sleep_for(150ms);
    source->set_direct("r0000", json{{"n", 0}, {"v", 9}});
    source->fetch_gate = &gate;
    source->block_fetches = 1;
    // The first reader to find it stale gets the stale rows at once...
    auto stale = co_await table->page(0);
    REQUIRE(stale.has_value());
    CHECK(stale->rows.front().record["v"] == 0);
    CHECK(stale->fetched_at == first->fetched_at);
    co_await gate.arrival();  // ...while one refresh runs (and is held here)
    // A second stale reader waits for that refresh rather than starting another.
    bool second_done = false;
    row_set<json> second;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await table->page(0);
          if (r) second = std::move(*r);
          second_done = true;
        },
        asio::detached);
    co_await sleep_for(10ms);
    CHECK_FALSE(second_done);
    gate.release();
    while (!second_done)
      co_await sleep_for(1ms);
    CHECK(second.rows.front().record["v"] == 9);
    CHECK(source->page_fetches.load() == 2);
    const auto m = table->metrics();
    CHECK(m.stale_served == 1);
    CHECK(m.refreshes == 1);
    CHECK(m.shared_fetches == 1);
    auto fresh = co_await table->page(0);
    REQUIRE(fresh.has_value());
    CHECK(fresh->rows.front().record["v"] == 9);
    CHECK(source->page_fetches.load() == 2);
    (void)co_await table->shutdown();
  });
}
