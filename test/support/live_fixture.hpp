// Stores under live_table tests: a memory store, or a disk store in a temporary directory.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "larder/any_store.hpp"
#include "larder/live_table.hpp"
#include "larder/memory_store.hpp"
#include "support/disk_fixture.hpp"
#include "support/live_sources.hpp"

namespace larder::testing {

struct memory_backing {
  static constexpr const char* name = "memory";
  explicit memory_backing(asio::io_context&)
      : memory(std::make_shared<memory_store>(
            memory_store_options{.max_entries = 100'000, .max_bytes = 64ull << 20})),
        store(memory, "memory") {}
  std::shared_ptr<memory_store> memory;
  any_store store;
};

struct disk_backing {
  static constexpr const char* name = "disk";
  explicit disk_backing(asio::io_context& io)
      : disk(io),
        // The fixture owns the store; the any_store only borrows it.
        store(std::shared_ptr<disk_store>(&disk.store(), [](disk_store*) {}), "disk") {}
  disk_fixture<io_backend::io_uring> disk;
  any_store store;
};

template <class Source>
using json_table = live_table<Source>;

inline live_table_options table_options(std::string key, std::uint64_t page_size = 10) {
  live_table_options o;
  o.cache_key = std::move(key);
  o.page_size = page_size;
  o.initial_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(8);
  return o;
}

// Opens a table or fails the test. A plain function taking references (no by-value
// temporaries reach a coroutine inside the caller's co_await: the GCC 12 rules).
template <class Source>
asio::awaitable<std::unique_ptr<json_table<Source>>> checked_open(
    asio::awaitable<result<std::unique_ptr<json_table<Source>>>> opening) {
  auto opened = co_await std::move(opening);
  if (!opened) throw std::system_error(opened.error(), "live_table::open");
  co_return std::move(*opened);
}
template <class Source>
asio::awaitable<std::unique_ptr<json_table<Source>>> open_table(
    const asio::any_io_executor& ex, const any_store& store, const std::shared_ptr<Source>& source,
    const live_table_options& options) {
  return checked_open<Source>(json_table<Source>::open(ex, store, source, options));
}

// Runs make(i) for every i in [0, n) as concurrent coroutines on `ex` and completes when
// all have; an exception in one is rethrown here after all ended.
template <class Make>
asio::awaitable<void> run_all(asio::any_io_executor ex, int n, Make make) {
  asio::experimental::concurrent_channel<void(std::error_code, bool)> done(ex, n);
  std::exception_ptr failure;
  std::mutex mutex;
  for (int i = 0; i < n; ++i) {
    asio::co_spawn(ex, make(i), [&](std::exception_ptr e) {
      if (e) {
        std::lock_guard lock(mutex);
        failure = e;
      }
      (void)done.try_send(std::error_code{}, true);
    });
  }
  for (int i = 0; i < n; ++i)
    (void)co_await done.async_receive(as_tuple_awaitable);
  if (failure) std::rethrow_exception(failure);
}

// True when the store holds an entry under `key` right now (`key` outlives the await).
inline asio::awaitable<bool> stored(any_store& store, std::string_view key) {
  const auto found = co_await store.get(key);
  co_return found.is_hit();
}

/// stored() for each key, in order: one comparison instead of an await-then-check block per
/// key (GCC 12 forbids co_await inside the assertion itself).
inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  (void)co_await t.async_wait(as_tuple_awaitable);
}

// Polls until `done()` for up to two seconds (the table's consumer and worker run
// between polls); the caller REQUIREs the result.
template <class Pred>
asio::awaitable<bool> eventually(Pred done) {
  for (int i = 0; i < 2000 && !done(); ++i)
    co_await sleep_for(std::chrono::milliseconds(1));
  co_return done();
}

inline asio::awaitable<std::vector<bool>> which_stored(any_store& store,
                                                       const std::vector<std::string>& keys) {
  std::vector<bool> out;
  for (const auto& key : keys) {
    const bool held = co_await stored(store, key);
    out.push_back(held);
  }
  co_return out;
}

}  // namespace larder::testing
