// live_table writes: read-your-writes under concurrency (memory and disk stores), FIFO
// order and backpressure, failures and retries, shutdown by draining or cancelling.
#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <catch2/catch.hpp>

#include "support/io_runner.hpp"
#include "support/live_fixture.hpp"

using namespace larder;
using namespace larder::testing;
using namespace std::chrono_literals;

namespace {
// A write's outcome, filled in by a detached writer.
struct outcome {
  bool done = false;
  result<write_receipt> receipt = errc::cancelled;
};

template <class Table>
void spawn_write(const asio::any_io_executor& ex, Table& table, std::string id, int v,
                 outcome& out) {
  asio::co_spawn(
      ex,
      [&table, &out, id, v]() -> asio::awaitable<void> {
        const json row{{"v", v}};
        out.receipt = co_await table.replace(id, row);
        out.done = true;
      },
      asio::detached);
}
}  // namespace

TEMPLATE_TEST_CASE("live_table: a writer always reads its own write (2 threads)",
                   "[live][concurrency]", memory_backing, disk_backing) {
  io_runner runner(2);
  TestType backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(40);
  source->fetch_delay = 1ms;  // fetches overlap writes and their invalidations
  constexpr int writers = 4, readers = 3, rounds = 12;
  std::atomic<int> violations{0}, write_errors{0}, read_errors{0};
  live_table_metrics m;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("rw", 10));
    auto worker = [&](int i) -> asio::awaitable<void> {
      if (i >= writers) {  // readers keep fills racing with the writers' invalidations
        for (int r = 0; r < rounds * 3; ++r) {
          auto page = co_await table->page(static_cast<std::uint64_t>(r % 4));
          if (!page) read_errors.fetch_add(1);
        }
        co_return;
      }
      const std::string id = row_id(i * 10 + 3);  // page i, this writer's own row
      for (int v = 1; v <= rounds; ++v) {
        const json change{{"v", v}};
        auto w = co_await table->patch(id, change);
        if (!w) {
          write_errors.fetch_add(1);
          continue;
        }
        auto row = co_await table->row(id);
        if (!row || !row->has_value() || (**row)["v"] != v) violations.fetch_add(1);
        auto page = co_await table->page(static_cast<std::uint64_t>(i));
        const json* seen = page ? page->find(id) : nullptr;
        if (!seen || (*seen)["v"] != v) violations.fetch_add(1);
      }
    };
    co_await run_all(ex, writers + readers, worker);
    m = table->metrics();
    (void)co_await table->shutdown();
  });
  CHECK(write_errors.load() == 0);
  CHECK(read_errors.load() == 0);
  CHECK(violations.load() == 0);
  CHECK(m.writes == writers * rounds);
  CHECK(m.invalidations >= writers * rounds);
  CHECK(m.fetch_faults == 0);
  CHECK(m.fill_faults == 0);
}

TEMPLATE_TEST_CASE("live_table: writes apply in FIFO order; a full queue makes writers wait",
                   "[live]", memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  turnstile gate(runner.context().get_executor());
  source->seed(10);
  source->apply_gate = &gate;
  source->block_applies = 1;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto options = table_options("q");
    options.queue_capacity = 2;
    auto table = co_await open_table(ex, backing.store, source, options);
    outcome w[6];
    spawn_write(ex, *table, row_id(1), 1, w[1]);
    co_await gate.arrival();  // write 1 is in the source, held
    spawn_write(ex, *table, row_id(2), 2, w[2]);
    spawn_write(ex, *table, row_id(3), 3, w[3]);  // 2 and 3 fill the queue
    // Write 4 finds the queue full and waits for room; cancel it there.
    asio::cancellation_signal cancel4;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          const json row{{"v", 4}};
          const auto id = row_id(4);
          w[4].receipt = co_await table->replace(id, row);
          w[4].done = true;
        },
        asio::bind_cancellation_slot(cancel4.slot(), asio::detached));
    co_await sleep_for(5ms);
    CHECK(table->metrics().queue_depth == 4);
    for (int i = 1; i <= 4; ++i)
      CHECK_FALSE(w[i].done);
    cancel4.emit(asio::cancellation_type::terminal);
    co_await sleep_for(2ms);
    CHECK(w[4].done);
    CHECK(w[4].receipt.error() == make_error_code(errc::cancelled));
    CHECK(table->metrics().queue_depth == 3);
    spawn_write(ex, *table, row_id(5), 5, w[5]);  // waits too: the queue is still full
    co_await sleep_for(2ms);
    CHECK_FALSE(w[5].done);
    gate.release();
    while (!w[5].done)
      co_await sleep_for(1ms);
    for (int i : {1, 2, 3, 5}) {
      CHECK(w[i].done);
      CHECK(w[i].receipt.has_value());
    }
    // Nothing dropped that was accepted, nothing run that was withdrawn, order kept.
    CHECK(source->applied() ==
          std::vector<std::string>{row_id(1), row_id(2), row_id(3), row_id(5)});
    CHECK(source->get_direct(row_id(4))["v"] == 0);
    CHECK(table->metrics().queue_depth == 0);
    (void)co_await table->shutdown();
  });
}

TEMPLATE_TEST_CASE("live_table: failed writes leave the cache alone and never stop the worker",
                   "[live]", memory_backing, disk_backing) {
  io_runner runner;
  TestType backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(10);
  source->fault = [](const write_op<json>& op, int attempt) -> std::error_code {
    if (op.id == "r0001") return make_error_code(errc::io_error);  // permanent
    if (op.id == "r0002") throw std::runtime_error("source bug");
    if (op.id == "r0003" && attempt <= 2) return make_error_code(errc::timed_out);
    if (op.id == "r0004") return make_error_code(errc::backend_unavailable);  // always
    return {};
  };
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("f"));
    (void)co_await table->page(0);
    const auto before = table->metrics();
    const json row{{"v", 7}};

    auto permanent = co_await table->replace("r0001", row);
    CHECK(permanent.error() == make_error_code(errc::io_error));
    auto thrown = co_await table->replace("r0002", row);
    CHECK(thrown.error() == make_error_code(errc::loader_failed));
    {
      const bool still = co_await stored(backing.store, "f/page/0");
      CHECK(still);  // a failed write invalidates nothing
    }
    CHECK(table->metrics().invalidations == before.invalidations);

    auto flaky = co_await table->replace("r0003", row);
    CHECK(flaky.has_value());  // two timeouts, then through
    auto hopeless = co_await table->replace("r0004", row);
    CHECK(hopeless.error() == make_error_code(errc::backend_unavailable));
    auto fine = co_await table->patch("r0005", row);  // the worker is still there
    CHECK(fine.has_value());
    auto missing = co_await table->replace("nope", row);
    CHECK(missing.error() == make_error_code(errc::invalid_argument));

    const auto m = table->metrics();
    CHECK(m.writes == 2);
    CHECK(m.write_faults == 4);
    CHECK(m.write_retries == 2 + 3);  // r0003 twice, r0004 up to write_attempts (4)
    CHECK(m.invalidations == before.invalidations + 2);
    auto page = co_await table->page(0);
    REQUIRE(page.has_value());
    CHECK((*page->find("r0003"))["v"] == 7);
    CHECK((*page->find("r0001"))["v"] == 0);
    (void)co_await table->shutdown();
  });
}

TEST_CASE("live_table: shutdown drains or cancels, and says which", "[live]") {
  const auto mode = GENERATE(shutdown_mode::drain, shutdown_mode::cancel);
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  turnstile gate(runner.context().get_executor());
  source->seed(10);
  source->apply_gate = &gate;
  source->block_applies = 1;
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("s"));
    auto watcher = table->watch();
    outcome w[4];
    spawn_write(ex, *table, row_id(1), 1, w[1]);
    co_await gate.arrival();
    spawn_write(ex, *table, row_id(2), 2, w[2]);
    spawn_write(ex, *table, row_id(3), 3, w[3]);
    co_await sleep_for(2ms);
    result<shutdown_report> report = errc::cancelled;
    bool shut = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          report = co_await table->shutdown(mode);
          shut = true;
        },
        asio::detached);
    co_await sleep_for(2ms);
    CHECK_FALSE(shut);  // write 1 is still in the source
    const json nine{{"v", 9}};
    auto late = co_await table->replace("r0009", nine);
    CHECK(late.error() == make_error_code(errc::shut_down));
    gate.release();
    while (!shut)
      co_await sleep_for(1ms);
    REQUIRE(report.has_value());
    CHECK(report->mode == mode);
    CHECK(w[1].receipt.has_value());  // the write in progress always finishes
    if (mode == shutdown_mode::drain) {
      CHECK(report->drained == 2);
      CHECK(report->cancelled == 0);
      CHECK(w[2].receipt.has_value());
      CHECK(w[3].receipt.has_value());
      CHECK(source->applied().size() == 3);
    } else {
      CHECK(report->drained == 0);
      CHECK(report->cancelled == 2);
      CHECK(w[2].receipt.error() == make_error_code(errc::cancelled));
      CHECK(w[3].receipt.error() == make_error_code(errc::cancelled));
      CHECK(source->applied().size() == 1);
      CHECK(table->metrics().writes_cancelled == 2);
    }
    // The watcher saw the applied writes, then its channel closed.
    int seen = 0;
    for (;;) {
      auto [ec, note] = co_await watcher->async_receive(as_tuple_awaitable);
      if (ec) break;
      ++seen;
    }
    CHECK(seen == static_cast<int>(source->applied().size()));
    auto again = co_await table->shutdown(mode);
    CHECK(again.error() == make_error_code(errc::shut_down));
  });
}

TEST_CASE("live_table: a table dropped without shutdown stops its worker and consumer", "[live]") {
  io_runner runner;
  memory_backing backing(runner.context());
  auto source = std::make_shared<evented_source>(runner.context().get_executor(), 16);
  source->seed(10);
  std::shared_ptr<watch_channel> watcher;
  bool closed = false;
  // run() returns only when nothing is left running: the dropped table's worker and
  // event consumer must have stopped by themselves.
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, backing.store, source, table_options("drop"));
    watcher = table->watch();
    const json row{{"v", 3}};
    auto w = co_await table->patch("r0003", row);
    CHECK(w.has_value());
    table.reset();
    for (;;) {
      auto [ec, note] = co_await watcher->async_receive(as_tuple_awaitable);
      if (ec) {
        closed = true;
        break;
      }
    }
  });
  CHECK(closed);
  CHECK(source->get_direct("r0003")["v"] == 3);
}

namespace {
// A memory store whose invalidate_prefix fails on demand while reads still work: the
// case where stale entries stay behind after a write.
struct sticky_store {
  std::atomic<bool> refuse_invalidation{false};
  memory_store inner{memory_store_options{.max_entries = 1000, .max_bytes = 1 << 24}};
  asio::awaitable<lookup> get(key_view key) { return inner.get(key); }
  asio::awaitable<std::error_code> put(key_view key, blob value) {
    return inner.put(key, std::move(value));
  }
  asio::awaitable<result<bool>> erase(key_view key) { return inner.erase(key); }
  asio::awaitable<std::error_code> flush() { return inner.flush(); }
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) {
    if (refuse_invalidation) return refused();
    return inner.invalidate_prefix(prefix);
  }
  metrics_snapshot metrics() const { return inner.metrics(); }
  static asio::awaitable<result<std::uint64_t>> refused() { co_return errc::io_error; }
};
}  // namespace

TEST_CASE("live_table: a failed invalidation makes reads bypass the store until one succeeds",
          "[live]") {
  io_runner runner;
  auto sticky = std::make_shared<sticky_store>();
  any_store store(sticky, "sticky");
  auto source = std::make_shared<memory_source>(runner.context().get_executor());
  source->seed(10);
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto table = co_await open_table(ex, store, source, table_options("d"));
    (void)co_await table->page(0);
    sticky->refuse_invalidation = true;
    const json one{{"v", 1}};
    auto w = co_await table->patch("r0000", one);
    REQUIRE(w.has_value());  // applied at the master: the write itself succeeded
    CHECK(table->metrics().invalidation_faults == 1);
    {
      const bool stale_left = co_await stored(store, "d/page/0");
      CHECK(stale_left);  // the old page is still in the store...
    }
    auto page = co_await table->page(0);  // ...but is not served
    REQUIRE(page.has_value());
    CHECK(page->rows.front().record["v"] == 1);
    CHECK(table->metrics().bypassed_reads == 1);
    CHECK(table->metrics().fills_dropped == 1);  // and the bypassing fetch is not stored

    sticky->refuse_invalidation = false;
    auto healed = co_await table->page(0);  // retries the invalidation first
    REQUIRE(healed.has_value());
    CHECK(healed->rows.front().record["v"] == 1);
    auto hit = co_await table->page(0);
    CHECK(hit.has_value());
    const auto m = table->metrics();
    CHECK(m.bypassed_reads == 1);
    CHECK(m.page_hits == 1);
    (void)co_await table->shutdown();
  });
}
