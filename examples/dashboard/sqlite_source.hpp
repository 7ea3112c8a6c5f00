// A live_table source over a real SQLite database: a `quotes` table, paged by id, with
// change events from SQLite's update hook.
//
// Every SQLite call runs on one worker thread (`db_`), so the connection is never used
// from two threads and no blocking call runs on the io_context's threads. The update
// hook fires inside sqlite3_step, before the statement's transaction commits; its events
// are held and published only after the statement finished, so a table that refetches
// on an event always reads the committed row.
#pragma once

#include <sqlite3.h>

#include <asio/any_io_executor.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "larder/live_source.hpp"
#include "larder/result.hpp"

namespace dashboard {

using json = nlohmann::json;

class sqlite_source {
 public:
  using row_type = json;

  /// Opens (creating) the database at `path` with `rows` quotes; events go through a
  /// stream of `event_capacity` (beyond which the stream reports an overflow).
  static larder::result<std::shared_ptr<sqlite_source>> open(const asio::any_io_executor& ex,
                                                             const std::string& path, int rows,
                                                             std::size_t event_capacity);
  ~sqlite_source();
  sqlite_source(const sqlite_source&) = delete;
  sqlite_source& operator=(const sqlite_source&) = delete;

  asio::awaitable<larder::result<larder::row_list<json>>> fetch_page(larder::page_request page);
  asio::awaitable<larder::result<std::optional<json>>> fetch_row(std::string_view id);
  asio::awaitable<larder::result<larder::write_receipt>> apply(larder::write_op<json> op);
  /// apply(), then the committed row read on the database thread before anything else
  /// runs there: what the table stores with optimistic_writes.
  asio::awaitable<larder::result<larder::applied_write<json>>> apply_returning(
      larder::write_op<json> op);
  asio::awaitable<larder::result<larder::change_event>> next_event();

  /// Another client's write, straight to the database (not through any table): only
  /// the update hook tells the table about it.
  asio::awaitable<larder::result<larder::write_receipt>> external_update(std::int64_t id,
                                                                         double price);

  std::uint64_t events_published() const noexcept { return published_.load(); }
  std::uint64_t events_lost() const noexcept { return lost_.load(); }

 private:
  struct pending_event {
    int op;
    std::int64_t rowid;
    std::uint64_t tag;
  };

  sqlite_source(const asio::any_io_executor& ex, std::size_t event_capacity);
  static void on_update(void* self, int op, const char* db, const char* table, sqlite3_int64 rowid);
  void publish_pending();
  void drop_pending() { pending_.clear(); }

  // Runs `work` (returning R) on the database thread; the awaiting coroutine resumes on
  // its own executor. A plain function taking `work` by reference: the GCC 12 rule.
  template <class R, class Work>
  asio::awaitable<R> on_db(Work&& work) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(R)>(
        [this, work = std::forward<Work>(work)](auto handler) mutable {
          asio::post(db_, [work = std::move(work), handler = std::move(handler)]() mutable {
            R out = work();
            auto ex = asio::get_associated_executor(handler);
            asio::post(ex, [handler = std::move(handler), out = std::move(out)]() mutable {
              std::move(handler)(std::move(out));
            });
          });
        },
        asio::use_awaitable);
  }

  larder::result<larder::write_receipt> apply_now(const larder::write_op<json>& op);
  larder::result<std::optional<json>> read_row(const std::string& id);
  enum class id_at : unsigned char { none, first, last };  // where the id is bound
  larder::result<larder::write_receipt> run_write(const char* sql, const json* row,
                                                  const std::string& id, id_at where);

  asio::thread_pool db_{1};
  sqlite3* conn_ = nullptr;
  std::vector<pending_event> pending_;  // database thread only
  std::uint64_t current_tag_ = 0;       // the table write being applied (database thread)
  asio::experimental::concurrent_channel<void(std::error_code, larder::change_event)> events_;
  std::atomic<bool> overflowed_{false};
  std::atomic<std::uint64_t> published_{0}, lost_{0};
};

}  // namespace dashboard
