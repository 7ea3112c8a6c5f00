// The Store contract, as one set of cases that every store registers into.
//
// A test translation unit defines `using conformance_fixtures = std::tuple<F...>;` and
// then includes this header. A fixture F:
//   explicit F(asio::io_context&);          // builds a fresh, empty store
//   auto& store();                          // the store under test (models larder::store)
//   static constexpr bool retains;          // false for stores that keep nothing
#pragma once

#include <asio/awaitable.hpp>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <tuple>

#include "larder/blob.hpp"
#include "larder/bulk.hpp"
#include "larder/fingerprint.hpp"
#include "larder/store.hpp"
#include "support/io_runner.hpp"

namespace larder::testing {

inline blob bytes_of(std::string_view s) {
  return blob::copy_of(s);
}

// Catch2's expression decomposition cannot take `(co_await x).member`; these can.
inline bool hit(const lookup& r) {
  return r.is_hit();
}
inline bool missed(const lookup& r) {
  return r.is_miss();
}

// A value that names its key and a version and carries a digest of both, so a reader
// can tell a torn or foreign value from a genuine one.
inline blob stamped_value(std::string_view key, std::uint64_t version, std::size_t pad) {
  std::string body(key);
  body += '#';
  body += std::to_string(version);
  body += '#';
  body.append(pad, static_cast<char>('a' + version % 26));
  const auto digest = fingerprint::of(body);
  body.append(digest.key());
  return blob(std::move(body));
}

inline bool stamp_is_genuine(std::string_view key, const blob& value) {
  const auto v = value.view();
  if (v.size() < fingerprint::size + key.size() + 1) return false;
  const auto body = v.substr(0, v.size() - fingerprint::size);
  if (fingerprint::of(body).key() != v.substr(body.size())) return false;
  return body.substr(0, key.size()) == key && body[key.size()] == '#';
}

}  // namespace larder::testing

TEMPLATE_LIST_TEST_CASE("conformance: a get before any put misses, after it hits", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    auto first = co_await s.get("alpha");
    CHECK(first.is_miss());
    {
      const auto r_ = co_await s.put("alpha", testing::bytes_of("one"));
      CHECK_FALSE(r_);
    }
    auto second = co_await s.get("alpha");
    if constexpr (TestType::retains) {
      REQUIRE(second.is_hit());
      CHECK(second.value().view() == "one");
    } else {
      CHECK(second.is_miss());
    }
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: put overwrites", "[conformance]", conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto r_ = co_await s.put("k", testing::bytes_of("first value"));
      CHECK_FALSE(r_);
    }
    {
      const auto r_ = co_await s.put("k", testing::bytes_of("2nd"));
      CHECK_FALSE(r_);
    }
    auto got = co_await s.get("k");
    if constexpr (TestType::retains) {
      REQUIRE(got.is_hit());
      CHECK(got.value().view() == "2nd");
      CHECK(s.metrics().entries == 1);
    } else {
      CHECK(got.is_miss());
    }
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: a zero-length value is a hit, not a miss", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto r_ = co_await s.put("empty", blob{});
      CHECK_FALSE(r_);
    }
    auto got = co_await s.get("empty");
    if constexpr (TestType::retains) {
      REQUIRE(got.is_hit());
      CHECK(got.value().empty());
    } else {
      CHECK(got.is_miss());
    }
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: keys are bytes, NUL included", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  const std::string a("k\0a", 3), b("k\0b", 3), bare("k", 1);
  const auto fp = fingerprint::of("content");
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto r_ = co_await s.put(a, testing::bytes_of("A"));
      CHECK_FALSE(r_);
    }
    {
      const auto r_ = co_await s.put(b, testing::bytes_of("B"));
      CHECK_FALSE(r_);
    }
    {
      const auto r_ = co_await s.put(fp.key(), testing::bytes_of("FP"));
      CHECK_FALSE(r_);
    }
    auto ga = co_await s.get(a);
    auto gb = co_await s.get(b);
    auto gbare = co_await s.get(bare);
    auto gfp = co_await s.get(fp.key());
    CHECK(gbare.is_miss());
    if constexpr (TestType::retains) {
      REQUIRE(ga.is_hit());
      REQUIRE(gb.is_hit());
      REQUIRE(gfp.is_hit());
      CHECK(ga.value().view() == "A");
      CHECK(gb.value().view() == "B");
      CHECK(gfp.value().view() == "FP");
    }
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: a value of several MiB round-trips intact", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  std::string big(6 * 1024 * 1024 + 7, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>((i * 2654435761u) >> 13);
  const auto expected = fingerprint::of(big);
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto r_ = co_await s.put("big", blob(std::string(big)));
      CHECK_FALSE(r_);
    }
    auto got = co_await s.get("big");
    if constexpr (TestType::retains) {
      REQUIRE(got.is_hit());
      CHECK(got.value().size() == big.size());
      CHECK(fingerprint::of(got.value().view()) == expected);
    } else {
      CHECK(got.is_miss());
    }
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: invalidate_prefix is a byte prefix", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    for (const char* k : {"client/page/0", "client/id/7", "clients/page/0", "clientele", "other"}) {
      const auto r_ = co_await s.put(k, testing::bytes_of(k));
      CHECK_FALSE(r_);
    }

    // The terminated prefix spares the neighbours that merely share letters.
    auto removed = co_await s.invalidate_prefix("client/");
    REQUIRE(removed.has_value());
    CHECK(*removed == (TestType::retains ? 2u : 0u));
    {
      const auto r_ = co_await s.get("client/page/0");
      CHECK(testing::missed(r_));
    }
    {
      const auto r_ = co_await s.get("client/id/7");
      CHECK(testing::missed(r_));
    }
    if constexpr (TestType::retains) {
      {
        const auto r_ = co_await s.get("clients/page/0");
        CHECK(testing::hit(r_));
      }
      {
        const auto r_ = co_await s.get("clientele");
        CHECK(testing::hit(r_));
      }
    }

    // A bare prefix is a byte prefix: it takes every key that starts with the bytes.
    removed = co_await s.invalidate_prefix("client");
    REQUIRE(removed.has_value());
    CHECK(*removed == (TestType::retains ? 2u : 0u));
    {
      const auto r_ = co_await s.get("clients/page/0");
      CHECK(testing::missed(r_));
    }
    {
      const auto r_ = co_await s.get("clientele");
      CHECK(testing::missed(r_));
    }
    if constexpr (TestType::retains) {
      const auto r_ = co_await s.get("other");
      CHECK(testing::hit(r_));
    }

    // The empty prefix clears everything.
    {
      const auto r_ = co_await s.put("zeta", testing::bytes_of("z"));
      CHECK_FALSE(r_);
    }
    removed = co_await s.invalidate_prefix("");
    REQUIRE(removed.has_value());
    CHECK(*removed == (TestType::retains ? 2u : 0u));
    {
      const auto r_ = co_await s.get("other");
      CHECK(testing::missed(r_));
    }
    {
      const auto r_ = co_await s.get("zeta");
      CHECK(testing::missed(r_));
    }
    CHECK(s.metrics().entries == 0);
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: erase removes one key", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto r_ = co_await s.put("a", testing::bytes_of("1"));
      CHECK_FALSE(r_);
    }
    {
      const auto r_ = co_await s.put("ab", testing::bytes_of("2"));
      CHECK_FALSE(r_);
    }
    auto erased = co_await s.erase("a");
    REQUIRE(erased.has_value());
    CHECK(*erased == TestType::retains);
    {
      const auto r_ = co_await s.get("a");
      CHECK(testing::missed(r_));
    }
    if constexpr (TestType::retains) {
      const auto r_ = co_await s.get("ab");
      CHECK(testing::hit(r_));
    }
    auto again = co_await s.erase("a");
    REQUIRE(again.has_value());
    CHECK_FALSE(*again);
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: flush succeeds on a healthy store", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    {
      const auto r_ = co_await s.put("durable", testing::bytes_of("value"));
      CHECK_FALSE(r_);
    }
    {
      const auto r_ = co_await s.flush();
      CHECK_FALSE(r_);
    }
    CHECK(s.metrics().flushes >= 1);
    if constexpr (TestType::retains) {
      const auto r_ = co_await s.get("durable");
      CHECK(testing::hit(r_));
    }
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: concurrent get/put on shared keys never tears",
                        "[conformance][concurrency]", conformance_fixtures) {
  using namespace larder;
  constexpr unsigned threads = 2, workers = 32, rounds = 60, keys = 8;
  testing::io_runner runner(threads);
  TestType fixture(runner.context());
  auto& s = fixture.store();
  std::atomic<unsigned> torn{0}, hits{0}, put_errors{0}, faults{0};
  for (unsigned w = 0; w < workers; ++w) {
    runner.spawn([&, w]() -> asio::awaitable<void> {
      for (unsigned r = 0; r < rounds; ++r) {
        const std::string key = "shared/" + std::to_string((w + r) % keys);
        if ((w + r) % 3 == 0) {
          if (co_await s.put(
                  key, testing::stamped_value(key, w * rounds + r, 100 + (w * 37 + r) % 3000)))
            ++put_errors;
        } else {
          auto got = co_await s.get(key);
          if (got.is_fault()) ++faults;
          if (got.is_hit()) {
            ++hits;
            if (!testing::stamp_is_genuine(key, got.value())) ++torn;
          }
        }
      }
    });
  }
  runner.run();
  CHECK(torn == 0);
  CHECK(put_errors == 0);
  CHECK(faults == 0);
  if constexpr (TestType::retains) CHECK(hits > 0);
  const auto m = s.metrics();
  CHECK(m.lookups == m.hits + m.misses);
  CHECK(m.hits == hits);
}

TEMPLATE_LIST_TEST_CASE("conformance: metrics match what was done", "[conformance]",
                        conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    const auto before = s.metrics();
    CHECK(before.lookups == 0);
    CHECK(before.puts == 0);
    for (int i = 0; i < 5; ++i) {
      const auto r_ = co_await s.put("m/" + std::to_string(i), testing::bytes_of("0123456789"));
      CHECK_FALSE(r_);
    }
    for (int i = 0; i < 8; ++i)
      (void)co_await s.get("m/" + std::to_string(i));
    {
      const auto r_ = co_await s.flush();
      CHECK_FALSE(r_);
    }
    const auto m = s.metrics();
    CHECK(m.puts == 5);
    CHECK(m.rejected_puts == 0);
    CHECK(m.lookups == 8);
    CHECK(m.hits + m.misses == 8);
    CHECK(m.errors == 0);
    CHECK(m.flushes == 1);
    if constexpr (TestType::retains) {
      CHECK(m.hits == 5);
      CHECK(m.entries == 5);
      CHECK(m.bytes >= 5 * (3 + 10));
      CHECK(m.hit_rate_ppm() == 625'000);
    } else {
      CHECK(m.hits == 0);
      CHECK(m.entries == 0);
      CHECK(m.bytes == 0);
    }
  });
}

TEMPLATE_LIST_TEST_CASE("conformance: get_many and put_many keep order and mean get and put",
                        "[conformance]", conformance_fixtures) {
  using namespace larder;
  testing::io_runner runner;
  TestType fixture(runner.context());
  auto& s = fixture.store();
  runner.run([&]() -> asio::awaitable<void> {
    const std::vector<put_item> items{{"many/a", testing::bytes_of("A")},
                                      {"many/b", testing::bytes_of("")},
                                      {"many/c", testing::bytes_of("C")}};
    const std::span<const put_item> item_span(items);
    const auto puts = co_await larder::put_many(s, item_span);
    REQUIRE(puts.size() == 3);
    for (const auto& ec : puts)
      CHECK_FALSE(ec);
    const std::vector<key_view> keys{"many/c", "many/absent", "many/a", "many/b"};
    const std::span<const key_view> key_span(keys);
    const auto got = co_await larder::get_many(s, key_span);
    REQUIRE(got.size() == 4);
    CHECK(got[1].is_miss());
    if constexpr (TestType::retains) {
      REQUIRE(got[0].is_hit());
      CHECK(got[0].value().view() == "C");
      REQUIRE(got[2].is_hit());
      CHECK(got[2].value().view() == "A");
      REQUIRE(got[3].is_hit());
      CHECK(got[3].value().empty());
    } else {
      CHECK(got[0].is_miss());
      CHECK(got[2].is_miss());
    }
    const std::span<const key_view> no_keys;
    const auto none = co_await larder::get_many(s, no_keys);
    CHECK(none.empty());
  });
}
