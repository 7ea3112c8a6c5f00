// A master that several processes share: rows {"v": int} in a SQLite file. Calls are
// short and run inline (blocking) on the caller's thread, which is fine for tests.
#pragma once

#include <sqlite3.h>

#include <asio/awaitable.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>

#include "larder/error.hpp"
#include "larder/json_codec.hpp"
#include "larder/live_source.hpp"

namespace larder::testing {

class sqlite_master {
 public:
  using row_type = nlohmann::json;

  explicit sqlite_master(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("sqlite open");
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, v INTEGER NOT NULL)");
  }
  ~sqlite_master() { sqlite3_close(db_); }
  sqlite_master(const sqlite_master&) = delete;
  sqlite_master& operator=(const sqlite_master&) = delete;

  void seed(int n) {
    for (int i = 0; i < n; ++i)
      set(id_of(i), 0);
  }
  static std::string id_of(int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "r%04d", i);
    return buf;
  }

  asio::awaitable<result<row_list<row_type>>> fetch_page(page_request page) {
    std::lock_guard lock(mutex_);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT id, v FROM rows ORDER BY id LIMIT ? OFFSET ?", -1, &st,
                       nullptr);
    sqlite3_bind_int64(st, 1, static_cast<sqlite3_int64>(page.size));
    sqlite3_bind_int64(st, 2, static_cast<sqlite3_int64>(page.number * page.size));
    row_list<row_type> out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
      out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                       row_type{{"v", sqlite3_column_int64(st, 1)}});
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) co_return errc::io_error;
    co_return out;
  }

  asio::awaitable<result<std::optional<row_type>>> fetch_row(std::string_view id) {
    std::lock_guard lock(mutex_);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "SELECT v FROM rows WHERE id = ?", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    std::optional<row_type> out;
    const int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) out = row_type{{"v", sqlite3_column_int64(st, 0)}};
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) co_return errc::io_error;
    co_return out;
  }

  asio::awaitable<result<write_receipt>> apply(write_op<row_type> op) {
    std::lock_guard lock(mutex_);
    write_receipt receipt{op.id, 1};
    switch (op.kind) {
      case write_kind::insert:
      case write_kind::replace:
      case write_kind::patch:
        if (!set_locked(op.id, op.row.value("v", 0))) co_return errc::io_error;
        break;
      case write_kind::erase:
        exec_locked("DELETE FROM rows WHERE id = '" + op.id + "'");
        break;
      case write_kind::erase_all:
        exec_locked("DELETE FROM rows");
        break;
    }
    co_return receipt;
  }

  void set(const std::string& id, long long v) {
    std::lock_guard lock(mutex_);
    set_locked(id, v);
  }

 private:
  bool set_locked(const std::string& id, long long v) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO rows (id, v) VALUES (?, ?)", -1, &st, nullptr);
    sqlite3_bind_text(st, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, v);
    const int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
  }
  void exec(const std::string& sql) {
    std::lock_guard lock(mutex_);
    exec_locked(sql);
  }
  void exec_locked(const std::string& sql) {
    sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }

  std::mutex mutex_;
  sqlite3* db_ = nullptr;
};

static_assert(live_source<sqlite_master>);

}  // namespace larder::testing
