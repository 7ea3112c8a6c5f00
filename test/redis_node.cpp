// A second larder node for the two-process tests: memory over Redis, kept fresh by an
// invalidation bus, driven by one command per line on stdin, one answer per line on
// stdout. Usage: redis_node <port> <namespace> <node id>
//   ready | put K V | get K | peek K (memory tier only) | inv P | applied | report | quit
//   table DB (a live_table "quotes" over the stack, master in the SQLite file DB)
//   page N (prints id=v,...) | write ID V (replace row ID with {"v": V})
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <future>
#include <iostream>
#include <string>
#include <thread>

#include "larder/invalidation_bus.hpp"
#include "larder/layered_store.hpp"
#include "larder/live_table.hpp"
#include "larder/memory_store.hpp"
#include "larder/redis_store.hpp"
#include "support/sqlite_master.hpp"

using namespace larder;

namespace {

std::string show(const lookup& r) {
  if (r.is_hit()) return "hit " + std::string(r.value().view());
  if (r.is_miss()) return "miss";
  return "fault " + r.error().message();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: redis_node <port> <namespace> <node id>\n";
    return 2;
  }
  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });

  redis_store_options ro;
  ro.port = static_cast<std::uint16_t>(std::stoi(argv[1]));
  ro.name_space = argv[2];
  ro.node_id = argv[3];
  auto memory = std::make_shared<memory_store>(memory_store_options{.max_entries = 10'000});
  auto redis = std::make_shared<redis_store>(io.get_executor(), ro);
  auto stack = std::make_shared<layered_store>(
      std::vector<any_store>{any_store(memory, "memory"), any_store(redis, "redis")});
  invalidation_bus_options bo;
  bo.port = ro.port;
  bo.name_space = ro.name_space;
  bo.node_id = ro.node_id;
  auto bus = std::make_unique<invalidation_bus>(io.get_executor(), bo);
  bus->attach(stack, 1);
  bus->start();
  redis->confirm_with(*bus);  // writes complete once every other node applied them

  std::shared_ptr<testing::sqlite_master> master;
  std::unique_ptr<live_table<testing::sqlite_master>> table;

  std::string line;
  while (std::getline(std::cin, line)) {
    const auto space = line.find(' ');
    const std::string verb = line.substr(0, space);
    const std::string rest = space == std::string::npos ? "" : line.substr(space + 1);
    if (verb == "quit") break;
    std::promise<std::string> answer;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<std::string> {
          if (verb == "ready") {
            const bool ok = co_await bus->wait_subscribed(std::chrono::seconds(10));
            co_return ok ? "ok" : "no";
          }
          if (verb == "put") {
            const auto at = rest.find(' ');
            const std::string key = rest.substr(0, at);
            blob value = blob::copy_of(rest.substr(at + 1));
            const auto ec = co_await stack->put(key, std::move(value));
            co_return ec ? "error " + ec.message() : "ok";
          }
          if (verb == "get") {
            const auto r = co_await stack->get(rest);
            co_return show(r);
          }
          if (verb == "peek") {
            const auto r = co_await memory->get(rest);
            co_return show(r);
          }
          if (verb == "inv") {
            const auto r = co_await stack->invalidate_prefix(rest);
            co_return r ? "ok " + std::to_string(*r) : "error " + r.error().message();
          }
          if (verb == "table") {
            master = std::make_shared<testing::sqlite_master>(rest);
            live_table_options options;
            options.cache_key = "quotes";
            options.page_size = 10;
            any_store shared(stack, "stack");
            auto opened = co_await live_table<testing::sqlite_master>::open(
                io.get_executor(), shared, master, options);
            if (!opened) co_return "error " + opened.error().message();
            table = std::move(*opened);
            co_return "ok";
          }
          if (verb == "page") {
            auto rows = co_await table->page(std::stoull(rest));
            if (!rows) co_return "error " + rows.error().message();
            std::string out;
            for (const auto& r : rows->rows)
              out += r.id + "=" + std::to_string(r.record.value("v", -1)) + ",";
            co_return out;
          }
          if (verb == "write") {
            const auto at = rest.find(' ');
            const std::string id = rest.substr(0, at);
            const nlohmann::json row{{"v", std::stoll(rest.substr(at + 1))}};
            auto done = co_await table->replace(id, row);
            co_return done ? "ok" : "error " + done.error().message();
          }
          if (verb == "applied") co_return std::to_string(bus->report().last_applied_ns);
          if (verb == "report") {
            const auto r = bus->report();
            co_return "messages " + std::to_string(r.messages) + " drops " +
                std::to_string(r.drops) + " subscribed " + std::to_string(r.subscribed);
          }
          co_return "unknown";
        },
        [&](std::exception_ptr e, std::string out) {
          answer.set_value(e ? std::string("exception") : std::move(out));
        });
    std::cout << answer.get_future().get() << std::endl;
  }
  if (table) {
    std::promise<void> closed;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { (void)co_await table->shutdown(); },
        [&](std::exception_ptr) { closed.set_value(); });
    closed.get_future().get();
    table.reset();
  }
  bus.reset();
  stack.reset();
  redis.reset();
  guard.reset();
  runner.join();
  return 0;
}
