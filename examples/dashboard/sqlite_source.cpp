#include "sqlite_source.hpp"

#include <cstdio>

#include "larder/error.hpp"

namespace dashboard {

namespace {

using larder::errc;

// A prepared statement that finalizes itself.
class statement {
 public:
  statement(sqlite3* db, const char* sql) {
    ok_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) == SQLITE_OK;
  }
  ~statement() { sqlite3_finalize(s_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  explicit operator bool() const noexcept { return ok_; }
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
  bool ok_ = false;
};

std::error_code sqlite_error(int rc) {
  // Busy and locked are worth retrying (the table's transient policy says so).
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
    return std::make_error_code(std::errc::device_or_resource_busy);
  return larder::make_error_code(errc::io_error);
}

json row_of(sqlite3_stmt* s) {
  const auto* symbol = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  return json{{"symbol", symbol ? symbol : ""},
              {"price", sqlite3_column_double(s, 2)},
              {"volume", sqlite3_column_int64(s, 3)}};
}

// Binds a field of a json record at `index`: null when absent (patch leaves it alone).
void bind_field(sqlite3_stmt* s, int index, const json& row, const char* field) {
  auto it = row.find(field);
  if (it == row.end() || it->is_null())
    sqlite3_bind_null(s, index);
  else if (it->is_string())
    sqlite3_bind_text(s, index, it->get_ref<const std::string&>().c_str(), -1, SQLITE_TRANSIENT);
  else if (it->is_number_integer())
    sqlite3_bind_int64(s, index, it->get<std::int64_t>());
  else if (it->is_number())
    sqlite3_bind_double(s, index, it->get<double>());
  else
    sqlite3_bind_text(s, index, it->dump().c_str(), -1, SQLITE_TRANSIENT);
}

}  // namespace

sqlite_source::sqlite_source(const asio::any_io_executor& ex, std::size_t event_capacity)
    : events_(ex, event_capacity) {}

larder::result<std::shared_ptr<sqlite_source>> sqlite_source::open(const asio::any_io_executor& ex,
                                                                   const std::string& path,
                                                                   int rows,
                                                                   std::size_t event_capacity) {
  std::shared_ptr<sqlite_source> src(new sqlite_source(ex, event_capacity));
  // Opening and seeding happen before any coroutine uses the source, on this thread.
  if (sqlite3_open_v2(path.c_str(), &src->conn_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK)
    return larder::make_error_code(errc::io_error);
  const char* schema =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      "DROP TABLE IF EXISTS quotes;"
      "CREATE TABLE quotes(id INTEGER PRIMARY KEY, symbol TEXT NOT NULL,"
      "                    price REAL NOT NULL, volume INTEGER NOT NULL);";
  if (sqlite3_exec(src->conn_, schema, nullptr, nullptr, nullptr) != SQLITE_OK)
    return larder::make_error_code(errc::io_error);
  sqlite3_exec(src->conn_, "BEGIN", nullptr, nullptr, nullptr);
  statement insert(src->conn_, "INSERT INTO quotes(id, symbol, price, volume) VALUES(?,?,?,?)");
  if (!insert) return larder::make_error_code(errc::io_error);
  for (int i = 1; i <= rows; ++i) {
    char symbol[16];
    std::snprintf(symbol, sizeof symbol, "SYM%04d", i);
    sqlite3_bind_int64(insert.get(), 1, i);
    sqlite3_bind_text(insert.get(), 2, symbol, -1, SQLITE_TRANSIENT);
    sqlite3_bind_double(insert.get(), 3, 100.0 + i);
    sqlite3_bind_int64(insert.get(), 4, 0);
    if (sqlite3_step(insert.get()) != SQLITE_DONE) return larder::make_error_code(errc::io_error);
    sqlite3_reset(insert.get());
  }
  if (sqlite3_exec(src->conn_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
    return larder::make_error_code(errc::io_error);
  // Installed after seeding: the seed rows are not changes anyone watches.
  sqlite3_update_hook(src->conn_, &sqlite_source::on_update, src.get());
  return src;
}

sqlite_source::~sqlite_source() {
  db_.join();
  sqlite3_close(conn_);
}

void sqlite_source::on_update(void* self, int op, const char*, const char*, sqlite3_int64 rowid) {
  auto* src = static_cast<sqlite_source*>(self);
  src->pending_.push_back({op, rowid, src->current_tag_});
}

void sqlite_source::publish_pending() {
  for (const auto& p : pending_) {
    const auto kind = p.op == SQLITE_INSERT   ? larder::change_kind::inserted
                      : p.op == SQLITE_DELETE ? larder::change_kind::deleted
                                              : larder::change_kind::updated;
    larder::change_event event{kind, std::to_string(p.rowid), {}, p.tag};
    if (events_.try_send(std::error_code{}, std::move(event))) {
      published_.fetch_add(1);
    } else {
      lost_.fetch_add(1);
      overflowed_.store(true);  // the reader learns of the loss before its next event
    }
  }
  pending_.clear();
}

asio::awaitable<larder::result<larder::change_event>> sqlite_source::next_event() {
  if (overflowed_.exchange(false))
    co_return larder::change_event{larder::change_kind::overflow, {}};
  auto [ec, event] =
      co_await events_.async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  if (ec) co_return errc::cancelled;  // the table's shutdown cancels the wait
  co_return event;
}

asio::awaitable<larder::result<larder::row_list<json>>> sqlite_source::fetch_page(
    larder::page_request page) {
  auto work = [this, page]() -> larder::result<larder::row_list<json>> {
    statement s(conn_, "SELECT id, symbol, price, volume FROM quotes ORDER BY id LIMIT ? OFFSET ?");
    if (!s) return larder::make_error_code(errc::io_error);
    sqlite3_bind_int64(s.get(), 1, static_cast<sqlite3_int64>(page.size));
    sqlite3_bind_int64(s.get(), 2, static_cast<sqlite3_int64>(page.number * page.size));
    larder::row_list<json> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
      out.emplace_back(std::to_string(sqlite3_column_int64(s.get(), 0)), row_of(s.get()));
    if (rc != SQLITE_DONE) return sqlite_error(rc);
    return out;
  };
  co_return co_await on_db<larder::result<larder::row_list<json>>>(work);
}

larder::result<std::optional<json>> sqlite_source::read_row(const std::string& id) {
  statement s(conn_, "SELECT id, symbol, price, volume FROM quotes WHERE id = ?");
  if (!s) return larder::make_error_code(errc::io_error);
  sqlite3_bind_text(s.get(), 1, id.c_str(), -1, SQLITE_TRANSIENT);
  const int rc = sqlite3_step(s.get());
  if (rc == SQLITE_ROW) return std::optional<json>(row_of(s.get()));
  if (rc == SQLITE_DONE) return std::optional<json>();
  return sqlite_error(rc);
}

asio::awaitable<larder::result<std::optional<json>>> sqlite_source::fetch_row(std::string_view id) {
  auto work = [this, id = std::string(id)] { return read_row(id); };
  co_return co_await on_db<larder::result<std::optional<json>>>(work);
}

larder::result<larder::write_receipt> sqlite_source::run_write(const char* sql, const json* row,
                                                               const std::string& id, id_at where) {
  statement s(conn_, sql);
  if (!s) return larder::make_error_code(errc::io_error);
  int index = 1;
  if (where == id_at::first) sqlite3_bind_text(s.get(), index++, id.c_str(), -1, SQLITE_TRANSIENT);
  if (row) {
    for (const char* field : {"symbol", "price", "volume"})
      bind_field(s.get(), index++, *row, field);
  }
  if (where == id_at::last) sqlite3_bind_text(s.get(), index, id.c_str(), -1, SQLITE_TRANSIENT);
  const int rc = sqlite3_step(s.get());
  if (rc != SQLITE_DONE) {
    drop_pending();  // the statement rolled back: nothing changed
    return sqlite_error(rc);
  }
  larder::write_receipt receipt;
  receipt.affected = static_cast<std::uint64_t>(sqlite3_changes(conn_));
  receipt.id = where == id_at::none && row ? std::to_string(sqlite3_last_insert_rowid(conn_)) : id;
  publish_pending();  // after the autocommit: a refetch sees the committed row
  return receipt;
}

larder::result<larder::write_receipt> sqlite_source::apply_now(const larder::write_op<json>& op) {
  using larder::write_kind;
  switch (op.kind) {
    case write_kind::insert:
      return op.id.empty()
                 ? run_write("INSERT INTO quotes(symbol, price, volume) VALUES(?,?,?)", &op.row, {},
                             id_at::none)
                 : run_write("INSERT INTO quotes(id, symbol, price, volume) VALUES(?,?,?,?)",
                             &op.row, op.id, id_at::first);
    case write_kind::replace:
      return run_write("UPDATE quotes SET symbol = ?, price = ?, volume = ? WHERE id = ?", &op.row,
                       op.id, id_at::last);
    case write_kind::patch:
      return run_write(
          "UPDATE quotes SET symbol = coalesce(?, symbol), price = coalesce(?, price),"
          " volume = coalesce(?, volume) WHERE id = ?",
          &op.row, op.id, id_at::last);
    case write_kind::erase:
      return run_write("DELETE FROM quotes WHERE id = ?", nullptr, op.id, id_at::last);
    case write_kind::erase_all: {
      // A WHERE clause keeps SQLite from its truncate shortcut, which skips the hook.
      return run_write("DELETE FROM quotes WHERE 1", nullptr, {}, id_at::none);
    }
  }
  return larder::make_error_code(errc::invalid_argument);
}

asio::awaitable<larder::result<larder::write_receipt>> sqlite_source::apply(
    larder::write_op<json> op) {
  auto work = [this, op = std::move(op)]() {
    current_tag_ = op.tag;  // the update hook tags this write's events with it
    auto out = apply_now(op);
    current_tag_ = 0;
    return out;
  };
  co_return co_await on_db<larder::result<larder::write_receipt>>(work);
}

asio::awaitable<larder::result<larder::applied_write<json>>> sqlite_source::apply_returning(
    larder::write_op<json> op) {
  using out_type = larder::result<larder::applied_write<json>>;
  auto work = [this, op = std::move(op)]() -> out_type {
    current_tag_ = op.tag;
    auto receipt = apply_now(op);
    current_tag_ = 0;
    if (!receipt) return receipt.error();
    larder::applied_write<json> out{*receipt, std::nullopt};
    if (op.kind == larder::write_kind::erase || op.kind == larder::write_kind::erase_all)
      return out;
    // Still on the database thread, which every write goes through: no other write can
    // come between the statement and this read.
    auto row = read_row(receipt->id);
    if (!row) return row.error();
    out.row = std::move(*row);
    return out;
  };
  co_return co_await on_db<out_type>(work);
}

asio::awaitable<larder::result<larder::write_receipt>> sqlite_source::external_update(
    std::int64_t id, double price) {
  auto work = [this, id, price]() -> larder::result<larder::write_receipt> {
    const json change{{"price", price}};
    return run_write(
        "UPDATE quotes SET symbol = coalesce(?, symbol), price = coalesce(?, price),"
        " volume = coalesce(?, volume) WHERE id = ?",
        &change, std::to_string(id), id_at::last);
  };
  co_return co_await on_db<larder::result<larder::write_receipt>>(work);
}

}  // namespace dashboard
