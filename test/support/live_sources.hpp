// In-process masters for live_table tests: rows in an ordered map, knobs to delay, block
// or fail fetches and writes, and (evented_source) a bounded change-event stream.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "larder/json_codec.hpp"
#include "larder/live_source.hpp"

namespace larder::testing {

using json = nlohmann::json;
inline constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// A turnstile a test controls: pass() reports the arrival and suspends until the test
// calls release(); arrival() waits for the next arrival.
class turnstile {
 public:
  explicit turnstile(const asio::any_io_executor& ex) : arrived_(ex, 256), released_(ex, 256) {}
  asio::awaitable<void> pass() {
    (void)arrived_.try_send(std::error_code{}, true);
    (void)co_await released_.async_receive(as_tuple_awaitable);
  }
  asio::awaitable<void> arrival() { (void)co_await arrived_.async_receive(as_tuple_awaitable); }
  void release(int n = 1) {
    for (int i = 0; i < n; ++i)
      (void)released_.try_send(std::error_code{}, true);
  }

 private:
  using channel = asio::experimental::concurrent_channel<void(std::error_code, bool)>;
  channel arrived_, released_;
};

inline std::string row_id(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "r%04d", i);
  return buf;
}

class memory_source {
 public:
  using row_type = json;

  explicit memory_source(asio::any_io_executor ex) : executor_(std::move(ex)) {}

  // Rows r0000..r{n-1}, each {"n": i, "v": 0}.
  void seed(int n) {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < n; ++i)
      rows_[row_id(i)] = json{{"n", i}, {"v", 0}};
  }
  // Change the master behind the table's back (as another client would).
  void set_direct(const std::string& id, json row) {
    std::lock_guard lock(mutex_);
    rows_[id] = std::move(row);
  }
  json get_direct(const std::string& id) {
    std::lock_guard lock(mutex_);
    auto it = rows_.find(id);
    return it == rows_.end() ? json() : it->second;
  }
  std::vector<std::string> applied() {
    std::lock_guard lock(mutex_);
    return applied_;
  }

  // Knobs, set before the table runs.
  std::chrono::milliseconds fetch_delay{0};
  turnstile* fetch_gate = nullptr;  // blocks the next `block_fetches` fetches (after reading)
  std::atomic<int> block_fetches{0};
  turnstile* apply_gate = nullptr;  // blocks the next `block_applies` writes (before applying)
  std::atomic<int> block_applies{0};
  // Called before each write attempt with the op and its attempt number; an error fails
  // the attempt; it may throw.
  std::function<std::error_code(const write_op<json>&, int)> fault;

  std::atomic<int> page_fetches{0}, row_fetches{0}, apply_calls{0}, cursor_fetches{0};

  asio::awaitable<result<row_list<json>>> fetch_page(page_request page) {
    page_fetches.fetch_add(1);
    row_list<json> out;
    {
      // Read first, then wait: a blocked fetch holds rows from before what happens next.
      std::lock_guard lock(mutex_);
      auto it = rows_.begin();
      for (std::uint64_t skip = page.number * page.size; skip > 0 && it != rows_.end(); --skip)
        ++it;
      for (; it != rows_.end() && out.size() < page.size; ++it)
        out.emplace_back(it->first, it->second);
    }
    co_await hold_fetch();
    co_return out;
  }

  // Keyset: the rows after `after` in id order (after a deleted id too).
  asio::awaitable<result<row_list<json>>> fetch_after(cursor_request request) {
    page_fetches.fetch_add(1);
    cursor_fetches.fetch_add(1);
    row_list<json> out;
    {
      std::lock_guard lock(mutex_);
      auto it = request.after.empty() ? rows_.begin() : rows_.upper_bound(request.after);
      for (; it != rows_.end() && out.size() < request.size; ++it)
        out.emplace_back(it->first, it->second);
    }
    co_await hold_fetch();
    co_return out;
  }

  asio::awaitable<result<std::optional<json>>> fetch_row(std::string_view id) {
    row_fetches.fetch_add(1);
    std::optional<json> out;
    {
      std::lock_guard lock(mutex_);
      if (auto it = rows_.find(std::string(id)); it != rows_.end()) out = it->second;
    }
    co_await hold_fetch();
    co_return out;
  }

  asio::awaitable<result<write_receipt>> apply(write_op<json> op) {
    apply_calls.fetch_add(1);
    int attempt = 0;
    {
      std::lock_guard lock(mutex_);
      attempt = ++attempts_[op.id];
    }
    if (fault) {
      if (auto ec = fault(op, attempt)) co_return ec;
    }
    if (apply_gate && block_applies.fetch_sub(1) > 0) co_await apply_gate->pass();
    write_receipt receipt;
    {
      std::lock_guard lock(mutex_);
      receipt.id = op.id;
      switch (op.kind) {
        case write_kind::insert:
          if (receipt.id.empty()) receipt.id = "n" + std::to_string(next_id_++);
          rows_[receipt.id] = op.row;
          receipt.affected = 1;
          break;
        case write_kind::replace:
        case write_kind::patch: {
          auto it = rows_.find(op.id);
          if (it == rows_.end()) co_return errc::invalid_argument;
          if (op.kind == write_kind::replace)
            it->second = op.row;
          else
            it->second.merge_patch(op.row);
          receipt.affected = 1;
          break;
        }
        case write_kind::erase:
          receipt.affected = rows_.erase(op.id);
          break;
        case write_kind::erase_all:
          receipt.affected = rows_.size();
          rows_.clear();
          break;
      }
      applied_.push_back(receipt.id);
    }
    on_applied(op.kind, receipt.id, op.tag);
    co_return receipt;
  }

 protected:
  virtual void on_applied(write_kind, const std::string&, std::uint64_t) {}
  asio::any_io_executor executor_;

 private:
  asio::awaitable<void> hold_fetch() {
    if (fetch_gate && block_fetches.fetch_sub(1) > 0) co_await fetch_gate->pass();
    if (fetch_delay.count() > 0) {
      asio::steady_timer t(executor_, fetch_delay);
      (void)co_await t.async_wait(as_tuple_awaitable);
    }
  }

  std::mutex mutex_;
  std::map<std::string, json> rows_;
  std::map<std::string, int> attempts_;
  std::vector<std::string> applied_;
  int next_id_ = 0;

 public:
  virtual ~memory_source() = default;
};

// A master with a bounded change stream, like a database trigger feeding a queue: when
// the queue is full the next read reports an overflow instead of the lost events.
class evented_source : public memory_source {
 public:
  evented_source(asio::any_io_executor ex, std::size_t capacity, bool events_for_writes = true)
      : memory_source(ex), events_(ex, capacity), events_for_writes_(events_for_writes) {}

  void emit(change_kind kind, std::string id = {}, std::uint64_t tag = 0) {
    if (!events_.try_send(std::error_code{}, change_event{kind, std::move(id), {}, tag}))
      overflowed_.store(true);
  }
  // Events for writes carry the write's tag (write_op::tag), as a source that can tell
  // its clients' changes apart reports them.
  bool echo_tags = false;
  // The stream breaks with `ec` (a dropped connection): the reader waiting now, or the
  // next one, gets the error instead of an event.
  void break_stream(std::error_code ec) {
    {
      std::lock_guard lock(mutex_);
      broken_ = ec;
    }
    (void)events_.try_send(std::error_code{}, change_event{change_kind::changed, "poke"});
  }

  asio::awaitable<result<change_event>> next_event() {
    if (overflowed_.exchange(false)) co_return change_event{change_kind::overflow, {}};
    {
      std::lock_guard lock(mutex_);
      if (broken_) co_return std::exchange(broken_, std::error_code{});
    }
    auto [ec, event] = co_await events_.async_receive(as_tuple_awaitable);
    if (ec) co_return errc::cancelled;
    {
      std::lock_guard lock(mutex_);
      if (broken_) co_return std::exchange(broken_, std::error_code{});
    }
    co_return event;
  }

 protected:
  void on_applied(write_kind kind, const std::string& id, std::uint64_t tag) override {
    if (!events_for_writes_) return;
    emit(kind == write_kind::insert      ? change_kind::inserted
         : kind == write_kind::erase     ? change_kind::deleted
         : kind == write_kind::erase_all ? change_kind::changed
                                         : change_kind::updated,
         id, echo_tags ? tag : 0);
  }

 private:
  asio::experimental::concurrent_channel<void(std::error_code, change_event)> events_;
  std::atomic<bool> overflowed_{false};
  std::mutex mutex_;
  std::error_code broken_;
  bool events_for_writes_;
};

// An evented master whose writes also return the row they left (as `RETURNING *`).
class returning_source : public evented_source {
 public:
  using evented_source::evented_source;

  asio::awaitable<result<applied_write<json>>> apply_returning(write_op<json> op) {
    const auto kind = op.kind;
    auto receipt = co_await apply(std::move(op));
    if (!receipt) co_return receipt.error();
    applied_write<json> out{*receipt, std::nullopt};
    if (kind != write_kind::erase && kind != write_kind::erase_all) {
      auto row = get_direct(receipt->id);
      if (!row.is_null()) out.row = std::move(row);
    }
    returned.fetch_add(1);
    co_return out;
  }

  std::atomic<int> returned{0};
};

static_assert(live_source<memory_source>);
static_assert(live_cursor_source<memory_source>);
static_assert(!live_returning_source<evented_source>);
static_assert(live_returning_source<returning_source>);
static_assert(!live_event_source<memory_source>);
static_assert(live_event_source<evented_source>);

}  // namespace larder::testing
