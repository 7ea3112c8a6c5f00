// live_table change events and the generation guard: events invalidate the group, lost
// events (overflow, lag, a broken stream) do too, the stale-fill race is reproduced step
// by step and shown guarded (memory and disk stores), and watchers see changes or a lag.
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include "support/io_runner.hpp"
#include "support/live_fixture.hpp"

using namespace larder;
using namespace larder::testing;
using namespace std::chrono_literals;

namespace {
asio::awaitable<live_notification> next_note(watch_channel& ch) {
  auto [ec, note] = co_await ch.async_receive(as_tuple_awaitable);
  if (ec) throw std::system_error(ec, "watch channel");
  co_return note;
}
}  // namespace

TEMPLATE_TEST_CASE("live_table: a change event invalidates the group and reaches watchers",
                   "[live]", memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  source->seed(10);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("ev"));
    auto watcher = table->watch();
    (void)co_await table->page(0);
    (void)co_await table->row("r0002");
    source->set_direct("r0002", json{{"n", 2}, {"v", 5}});  // another client's write
    source->emit(change_kind::updated, "r0002");
    const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
    REQUIRE(seen);
    {
      const bool page_left = co_await stored(backing.store, "ev/page/0");
      const bool row_left = co_await stored(backing.store, "ev/id/r0002");
      CHECK_FALSE(page_left);
      CHECK_FALSE(row_left);
    }
    const auto note = co_await next_note(*watcher);
    CHECK(note.kind == change_kind::updated);
    CHECK(note.id == "r0002");
    CHECK(note.generation == table->metrics().generation);
    auto row = co_await table->row("r0002");
    REQUIRE(row.has_value());
    CHECK((**row)["v"] == 5);
    (void)co_await table->shutdown();
  });
}

TEMPLATE_TEST_CASE("live_table: an overflowing event stream invalidates the whole group", "[live]",
                   memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 1, false);
  source->seed(30);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("ov"));
    auto watcher = table->watch();
    for (std::uint64_t p = 0; p < 3; ++p)
      (void)co_await table->page(p);
    // A burst before the consumer runs: one event is handed over, one is buffered,
    // the rest do not fit and are lost; the source reports that as an overflow.
    for (int i = 0; i < 6; ++i)
      source->emit(change_kind::updated, row_id(i));
    const bool seen = co_await eventually([&] { return table->metrics().resyncs == 1; });
    REQUIRE(seen);
    for (auto key : {"ov/page/0", "ov/page/1", "ov/page/2"}) {
      const bool left = co_await stored(backing.store, key);
      CHECK_FALSE(left);
    }
    bool overflow_seen = false;
    for (int i = 0; i < 3; ++i) {
      const auto note = co_await next_note(*watcher);
      overflow_seen = overflow_seen || note.kind == change_kind::overflow;
    }
    CHECK(overflow_seen);

    // A lost-events marker alone, with no row named, clears a group filled after it.
    for (auto kind : {change_kind::overflow, change_kind::lagged, change_kind::reconnected}) {
      (void)co_await table->page(1);
      const auto before = table->metrics().resyncs;
      source->emit(kind);
      const bool handled =
          co_await eventually([&] { return table->metrics().resyncs == before + 1; });
      REQUIRE(handled);
      const bool left = co_await stored(backing.store, "ov/page/1");
      CHECK_FALSE(left);
    }
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table: a broken event stream invalidates the group and is re-read", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  source->seed(10);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("br"));
    auto watcher = table->watch();
    (void)co_await table->page(0);
    source->break_stream(make_error_code(errc::backend_unavailable));
    const bool seen = co_await eventually([&] { return table->metrics().event_faults == 1; });
    REQUIRE(seen);
    const bool left = co_await stored(backing.store, "br/page/0");
    CHECK_FALSE(left);
    CHECK(table->metrics().events == 0);
    const auto note = co_await next_note(*watcher);
    CHECK(note.kind == change_kind::reconnected);
    // The consumer keeps reading after the failure.
    (void)co_await table->page(0);
    source->emit(change_kind::deleted, "r0001");
    const bool again = co_await eventually([&] { return table->metrics().events == 1; });
    CHECK(again);
    (void)co_await table->shutdown();
  });
}

TEMPLATE_TEST_CASE("live_table: a fetch that began before an invalidation never installs",
                   "[live][concurrency]", memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  turnstile gate(runner.context().get_executor());
  source->seed(10);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("race"));
    source->fetch_gate = &gate;
    source->block_fetches = 1;
    // 1. Reader A misses; its fetch reads v=0 from the master and is held there.
    bool a_done = false;
    row_set<json> a;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto r = co_await table->page(0);
          if (r) a = std::move(*r);
          a_done = true;
        },
        asio::detached);
    co_await gate.arrival();
    // 2. A write goes through: master v=1, group invalidated, write acknowledged.
    const json one{{"v", 1}};
    auto w = co_await table->patch("r0000", one);
    REQUIRE(w.has_value());
    // 3. Reader C, after the acknowledgement, must not join A's (older) fetch.
    auto c = co_await table->page(0);
    REQUIRE(c.has_value());
    CHECK(c->rows.front().record["v"] == 1);
    CHECK_FALSE(a_done);
    // 4. A's fetch completes now, after the invalidation: its rows must not be installed.
    gate.release();
    const bool finished = co_await eventually([&] { return a_done; });
    REQUIRE(finished);
    CHECK(a.rows.front().record["v"] == 0);  // A began before the write: old rows are its answer
    const auto m = table->metrics();
    CHECK(m.fills_dropped == 1);
    CHECK(m.fetches == 2);
    auto entry = co_await backing.store.get("race/page/0");
    REQUIRE(entry.is_hit());
    auto decoded = json_row_codec{}.decode(entry.value().view());
    REQUIRE(decoded.has_value());
    CHECK(decoded->rows.front().record["v"] == 1);  // C's fill, not A's
    auto d = co_await table->page(0);
    REQUIRE(d.has_value());
    CHECK(d->rows.front().record["v"] == 1);
    CHECK(source->page_fetches.load() == 2);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table: the same race through an event, with nothing else stored", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16, false);
  turnstile gate(runner.context().get_executor());
  source->seed(10);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("race2"));
    source->fetch_gate = &gate;
    source->block_fetches = 1;
    bool a_done = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          (void)co_await table->row("r0004");
          a_done = true;
        },
        asio::detached);
    co_await gate.arrival();
    source->set_direct("r0004", json{{"v", 4}});
    source->emit(change_kind::updated, "r0004");
    const bool seen = co_await eventually([&] { return table->metrics().events == 1; });
    REQUIRE(seen);
    gate.release();
    const bool finished = co_await eventually([&] { return a_done; });
    REQUIRE(finished);
    const bool installed = co_await stored(backing.store, "race2/id/r0004");
    CHECK_FALSE(installed);
    CHECK(table->metrics().fills_dropped == 1);
    auto fresh = co_await table->row("r0004");
    REQUIRE(fresh.has_value());
    CHECK((**fresh)["v"] == 4);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table: a slow watcher is told it lagged instead of blocking the table", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(10);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto options = table_options("w");
    options.watch_capacity = 2;
    auto table = co_await open_table(ex, backing.store, source, options);
    auto slow = table->watch();
    const json v{{"v", 1}};
    for (int i = 1; i <= 4; ++i) {
      const auto id = row_id(i);
      auto w = co_await table->patch(id, v);
      REQUIRE(w.has_value());  // never held up by the unread watcher
    }
    auto first = co_await next_note(*slow);
    auto second = co_await next_note(*slow);
    CHECK(first.id == row_id(1));
    CHECK(second.id == row_id(2));
    auto inserted = co_await table->insert(v);
    REQUIRE(inserted.has_value());
    CHECK_FALSE(inserted->id.empty());
    auto lag = co_await next_note(*slow);
    auto last = co_await next_note(*slow);
    CHECK(lag.kind == change_kind::lagged);
    CHECK(last.kind == change_kind::inserted);
    CHECK(last.id == inserted->id);  // the id the source assigned
    CHECK(table->metrics().watch_lagged == 2);
    (void)co_await table->shutdown();
  });
}
