// redis_store and invalidation_bus against secured and constrained redis-servers started
// by the test: password and ACL users, TLS only, a unix socket, a non-zero database,
// maxmemory under noeviction and allkeys-lru. The Store conformance suite runs over the
// secured variants.
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <mutex>
#include <tuple>

#include "larder/invalidation_bus.hpp"
#include "larder/layered_store.hpp"
#include "larder/memory_store.hpp"
#include "larder/redis_store.hpp"
#include "support/redis_server.hpp"

namespace {

using larder::testing::redis_server;
using larder::testing::server_config;

std::string fresh_namespace() {
  static std::atomic<int> next{0};
  return "s" + std::to_string(::getpid()) + "-" + std::to_string(next++);
}

// A password for the default user, an ACL user with everything, one without CONFIG
// (as managed Redis often is), and one that may read but not run functions.
redis_server& acl_server() {
  static redis_server server(
      server_config{{"--requirepass", "default-pw", "--user",      "alice",  "on",
                     ">alice-pw",     "~*",         "&*",          "+@all",  "--user",
                     "managed",       "on",         ">managed-pw", "~*",     "&*",
                     "+@all",         "-config",    "--user",      "reader", "on",
                     ">reader-pw",    "~*",         "&*",          "+@read", "+@connection",
                     "+ping"}});
  return server;
}

redis_server& tls_server() {
  static redis_server server(server_config{{}, false, true});
  return server;
}

redis_server& socket_server() {
  static redis_server server(server_config{{}, true, false});
  return server;
}

larder::redis_store_options base() {
  larder::redis_store_options o;
  o.name_space = fresh_namespace();
  o.timeout = std::chrono::milliseconds(2000);
  return o;
}

larder::redis_store_options acl_user() {
  auto o = base();
  o.url = "redis://alice:alice-pw@127.0.0.1:" + std::to_string(acl_server().port()) + "/2";
  return o;
}

larder::redis_store_options default_password() {
  auto o = base();
  o.port = acl_server().port();
  o.password = "default-pw";
  return o;
}

larder::redis_store_options tls_only() {
  auto o = base();
  o.url = "rediss://127.0.0.1:" + std::to_string(tls_server().port());
  o.tls.ca_file = tls_server().ca_file();
  o.tls.cert_file = tls_server().cert_file();
  o.tls.key_file = tls_server().key_file();
  return o;
}

larder::redis_store_options unix_socket_db() {
  auto o = base();
  o.url = "unix://" + socket_server().socket_path() + "?db=3";
  return o;
}

template <larder::redis_store_options (*Make)()>
struct secured_fixture {
  static constexpr bool retains = true;
  explicit secured_fixture(asio::io_context& io) : store_(io.get_executor(), Make()) {}
  larder::redis_store& store() { return store_; }
  larder::redis_store store_;
};

}  // namespace

using conformance_fixtures =
    std::tuple<secured_fixture<acl_user>, secured_fixture<default_password>,
               secured_fixture<tls_only>, secured_fixture<unix_socket_db>>;
#include "support/conformance.hpp"

using namespace larder;
using namespace std::chrono_literals;

namespace {

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Collects on_error calls (any thread).
struct error_calls {
  std::mutex mutex;
  std::vector<std::string> texts;
  std::function<void(std::string_view)> callback() {
    return [this](std::string_view t) {
      std::lock_guard lock(mutex);
      texts.emplace_back(t);
    };
  }
};

}  // namespace

TEST_CASE("secured: a wrong password is reported once, with its cause, and retried slowly",
          "[redis][secured]") {
  testing::io_runner runner;
  error_calls calls;
  auto o = base();
  o.port = acl_server().port();
  o.user = "alice";
  o.password = "not-alices";
  o.on_error = calls.callback();
  redis_store s(runner.context().get_executor(), o);
  const std::string where = "auth on 127.0.0.1:" + std::to_string(acl_server().port()) + ": ";
  runner.run([&]() -> asio::awaitable<void> {
    const auto started = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - started < 1500ms) {
      const auto ec = co_await s.put("k", testing::bytes_of("v"));
      CHECK(ec == errc::remote_setup_failed);
      auto r = co_await s.get("k");
      CHECK(r.is_fault());
      co_await sleep_for(20ms);
    }
  });
  const auto report = s.report();
  INFO(report.last_error);
  CHECK(report.last_error.rfind(where + "WRONGPASS", 0) == 0);
  // Retried after backoff_max (1 s) then 2 s: never at connection speed.
  CHECK(report.setup_failures >= 1);
  CHECK(report.setup_failures <= 2);
  CHECK(report.connects == 0);
  CHECK(calls.texts.size() == 1);
  CHECK(std::error_code(errc::remote_setup_failed).message().find("authentication") !=
        std::string::npos);
}

TEST_CASE("secured: a bus refused at login backs off and says why", "[redis][secured]") {
  auto wrong = GENERATE(0, 1);
  testing::io_runner runner;
  invalidation_bus_options o;
  o.port = acl_server().port();
  o.name_space = fresh_namespace();
  // 0: a wrong password; 1: no password at all (SUBSCRIBE answers NOAUTH).
  if (wrong == 0) o.password = "nope";
  invalidation_bus bus(runner.context().get_executor(), o);
  bus.attach(any_store(std::make_shared<memory_store>(memory_store_options{}), "memory"));
  bus.start();
  runner.run([&]() -> asio::awaitable<void> {
    co_await sleep_for(1500ms);
    bus.stop();
  });
  const auto r = bus.report();
  INFO(r.last_error);
  CHECK_FALSE(r.subscribed);
  CHECK(r.setup_failures >= 1);
  CHECK(r.setup_failures <= 2);  // not 95 a second
  CHECK(r.connect_failures + r.disconnects <= 3);
  CHECK(r.retry_delay >= 1000ms);
  CHECK(contains(r.last_error, wrong == 0 ? "auth on 127.0.0.1:" : "subscribe on 127.0.0.1:"));
  CHECK(contains(r.last_error, wrong == 0 ? "WRONGPASS" : "NOAUTH"));
}

TEST_CASE("secured: a store and a bus with the right login keep a stack fresh",
          "[redis][secured]") {
  testing::io_runner runner;
  const auto url = "redis://alice:alice-pw@127.0.0.1:" + std::to_string(acl_server().port());
  const auto ns = fresh_namespace();
  redis_store_options ro;
  ro.url = url + "/1";
  ro.name_space = ns;
  ro.node_id = "writer";
  redis_store writer(runner.context().get_executor(), ro);
  auto memory = std::make_shared<memory_store>(memory_store_options{});
  invalidation_bus_options bo;
  bo.url = url;
  bo.name_space = ns;
  bo.node_id = "reader";
  invalidation_bus bus(runner.context().get_executor(), bo);
  bus.attach(any_store(memory, "memory"));
  bus.start();
  runner.run([&]() -> asio::awaitable<void> {
    REQUIRE(co_await bus.wait_subscribed(5s));
    REQUIRE_FALSE(co_await memory->put("k", testing::bytes_of("old")));
    REQUIRE_FALSE(co_await writer.put("k", testing::bytes_of("new")));
    for (int i = 0; i < 200 && bus.report().applied == 0; ++i)
      co_await sleep_for(5ms);
    auto local = co_await memory->get("k");
    CHECK(local.is_miss());
    bus.stop();
  });
  CHECK(writer.report().setup_failures == 0);
  CHECK(bus.report().setup_failures == 0);
}

TEST_CASE("secured: an ACL user without CONFIG works, its eviction policy unchecked",
          "[redis][secured]") {
  testing::io_runner runner;
  auto o = base();
  o.url = "redis://managed:managed-pw@127.0.0.1:" + std::to_string(acl_server().port());
  redis_store s(runner.context().get_executor(), o);
  runner.run([&]() -> asio::awaitable<void> {
    REQUIRE_FALSE(co_await s.put("k", testing::bytes_of("v")));
    auto r = co_await s.get("k");
    CHECK(r.is_hit());
  });
  const auto report = s.report();
  CHECK(report.policy_unchecked >= 1);
  CHECK(contains(report.last_error, "maxmemory-policy check on 127.0.0.1:"));
  CHECK(contains(report.last_error, "NOPERM"));
}

TEST_CASE("secured: a user who may not run functions: puts fail with the server's reason",
          "[redis][secured]") {
  testing::io_runner runner;
  auto o = base();
  o.url = "redis://reader:reader-pw@127.0.0.1:" + std::to_string(acl_server().port());
  o.check_eviction_policy = false;
  redis_store s(runner.context().get_executor(), o);
  runner.run([&]() -> asio::awaitable<void> {
    auto r = co_await s.get("k");
    CHECK(r.is_miss());
    const auto ec = co_await s.put("k", testing::bytes_of("v"));
    CHECK(ec == errc::remote_error);
  });
  const auto report = s.report();
  INFO(report.last_error);
  CHECK(report.setup_errors >= 1);  // FUNCTION LOAD refused
  CHECK(contains(report.last_error, "command on 127.0.0.1:"));
  CHECK(contains(report.last_error, "NOPERM"));
}

TEST_CASE("secured: TLS refuses a server it cannot verify, naming the reason",
          "[redis][secured][tls]") {
  const int variant = GENERATE(0, 1, 2);
  testing::io_runner runner;
  auto o = tls_only();
  if (variant == 0) o.tls.ca_file = tls_server().other_ca_file();  // untrusted chain
  if (variant == 1) o.tls.server_name = "wrong.example";           // wrong name
  if (variant == 2) o.tls.cert_file = o.tls.key_file = "";         // no client cert
  redis_store s(runner.context().get_executor(), o);
  runner.run([&]() -> asio::awaitable<void> {
    const auto ec = co_await s.put("k", testing::bytes_of("v"));
    CHECK(ec);
  });
  const auto report = s.report();
  INFO(report.last_error);
  CHECK(report.connects == 0);
  if (variant < 2) {
    CHECK(contains(report.last_error, "tls handshake on 127.0.0.1:" +
                                          std::to_string(tls_server().port()) + " (tls): "));
    CHECK(contains(report.last_error, "certificate verify failed"));
    CHECK(report.setup_failures == 1);
  } else {
    // The server refuses a client without a certificate after the handshake.
    CHECK_FALSE(report.last_error.empty());
  }
}

TEST_CASE("secured: a missing TLS file is refused at construction", "[redis][secured][tls]") {
  asio::io_context io;
  auto o = tls_only();
  o.tls.ca_file = "/nonexistent/ca.pem";
  try {
    redis_store s(io.get_executor(), o);
    FAIL("constructed");
  } catch (const std::system_error& e) {
    CHECK(e.code() == errc::invalid_argument);
    CHECK(contains(e.what(), "/nonexistent/ca.pem"));
  }
}

TEST_CASE("secured: SELECT keeps databases apart (unix socket db 3, TCP db 0)",
          "[redis][secured]") {
  testing::io_runner runner;
  auto in3 = unix_socket_db();
  auto in0 = base();
  in0.name_space = in3.name_space;
  in0.port = socket_server().port();
  redis_store db3(runner.context().get_executor(), in3);
  redis_store db0(runner.context().get_executor(), in0);
  runner.run([&]() -> asio::awaitable<void> {
    REQUIRE_FALSE(co_await db3.put("k", testing::bytes_of("three")));
    auto there = co_await db3.get("k");
    CHECK(there.is_hit());
    auto elsewhere = co_await db0.get("k");
    CHECK(elsewhere.is_miss());
  });
}
