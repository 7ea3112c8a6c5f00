// live_table with typed rows and a codec of their own: no JSON anywhere.
#include <catch2/catch.hpp>
#include <charconv>
#include <map>
#include <mutex>

#include "larder/live_table.hpp"
#include "larder/memory_store.hpp"
#include "support/io_runner.hpp"

using namespace larder;

namespace {

struct quote {
  std::string symbol;
  std::int64_t cents = 0;
  bool operator==(const quote&) const = default;
};

// "Q1 <fetched ns>\n" then "<id> <symbol> <cents>\n" per row (ids and symbols have no spaces).
struct quote_codec {
  result<blob> encode(const row_set<quote>& set) const {
    std::string out = "Q1 " + std::to_string(set.fetched_at.time_since_epoch().count()) + "\n";
    for (const auto& r : set.rows)
      out += r.id + ' ' + r.record.symbol + ' ' + std::to_string(r.record.cents) + '\n';
    return blob(std::move(out));
  }
  result<row_set<quote>> decode(std::string_view bytes) const {
    auto line = [&bytes]() -> std::optional<std::string_view> {
      const auto end = bytes.find('\n');
      if (end == std::string_view::npos) return std::nullopt;
      auto l = bytes.substr(0, end);
      bytes.remove_prefix(end + 1);
      return l;
    };
    auto number = [](std::string_view s, std::int64_t& out) {
      const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      return ec == std::errc() && p == s.data() + s.size();
    };
    auto head = line();
    std::int64_t ticks = 0;
    if (!head || !head->starts_with("Q1 ") || !number(head->substr(3), ticks))
      return errc::corrupt_entry;
    row_set<quote> set;
    set.fetched_at =
        std::chrono::system_clock::time_point(std::chrono::system_clock::duration(ticks));
    while (!bytes.empty()) {
      auto l = line();
      if (!l) return errc::corrupt_entry;
      const auto a = l->find(' '), b = l->rfind(' ');
      std::int64_t cents = 0;
      if (a == b || a == std::string_view::npos || !number(l->substr(b + 1), cents))
        return errc::corrupt_entry;
      set.rows.push_back(
          {std::string(l->substr(0, a)), quote{std::string(l->substr(a + 1, b - a - 1)), cents}});
    }
    return set;
  }
};

class quote_source {
 public:
  using row_type = quote;
  quote_source() {
    for (int i = 0; i < 6; ++i)
      rows_["q" + std::to_string(i)] = quote{"SYM" + std::to_string(i), 100 * i};
  }
  std::atomic<int> fetches{0};

  asio::awaitable<result<row_list<quote>>> fetch_page(page_request page) {
    fetches.fetch_add(1);
    std::lock_guard lock(mutex_);
    row_list<quote> out;
    std::uint64_t index = 0;
    for (const auto& [id, q] : rows_)
      if (index++ >= page.number * page.size && out.size() < page.size) out.emplace_back(id, q);
    co_return out;
  }
  asio::awaitable<result<std::optional<quote>>> fetch_row(std::string_view id) {
    fetches.fetch_add(1);
    std::lock_guard lock(mutex_);
    auto it = rows_.find(std::string(id));
    co_return it == rows_.end() ? std::optional<quote>() : std::optional<quote>(it->second);
  }
  asio::awaitable<result<write_receipt>> apply(write_op<quote> op) {
    std::lock_guard lock(mutex_);
    if (op.kind != write_kind::replace && op.kind != write_kind::insert)
      co_return errc::invalid_argument;
    rows_[op.id] = op.row;
    co_return write_receipt{op.id, 1};
  }

 private:
  std::mutex mutex_;
  std::map<std::string, quote> rows_;
};

}  // namespace

// Plugging the codec in as the default for `quote`: live_table<quote_source> finds it.
template <>
struct larder::default_row_codec<quote> {
  using type = quote_codec;
};

static_assert(row_codec<quote_codec, quote>);
static_assert(live_source<quote_source>);
static_assert(std::same_as<live_table<quote_source>, live_table<quote_source, quote_codec>>);

TEST_CASE("live_table: typed rows with their own codec", "[live]") {
  testing::io_runner runner;
  auto memory = std::make_shared<memory_store>(
      memory_store_options{.max_entries = 1000, .max_bytes = 1 << 20});
  any_store store(memory, "memory");
  auto source = std::make_shared<quote_source>();
  runner.run([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    live_table_options options;
    options.cache_key = "quotes";
    options.page_size = 4;
    auto opened = co_await live_table<quote_source>::open(ex, store, source, options);
    REQUIRE(opened.has_value());
    auto& table = **opened;

    auto first = co_await table.page(1);
    REQUIRE(first.has_value());
    REQUIRE(first->rows.size() == 2);
    CHECK(first->rows[0].id == "q4");
    CHECK(first->rows[1].record == quote{"SYM5", 500});
    auto again = co_await table.page(1);
    REQUIRE(again.has_value());
    CHECK(again->rows[1].record == quote{"SYM5", 500});
    CHECK(source->fetches.load() == 1);  // decoded from the store by quote_codec

    const quote changed{"SYM5", 555};
    auto w = co_await table.replace("q5", changed);
    REQUIRE(w.has_value());
    auto row = co_await table.row("q5");
    REQUIRE(row.has_value());
    REQUIRE(row->has_value());
    CHECK(**row == changed);
    auto refused = co_await table.erase("q1");
    CHECK(refused.error() == make_error_code(errc::invalid_argument));
    (void)co_await table.shutdown();
  });
}
