// The connection setup without a socket: which commands a configuration sends, and the
// verdict on each kind of reply (tables).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "stores/redis/handshake.hpp"

using namespace larder;
using namespace larder::redis;

namespace {

reply error(const char* text) {
  reply r;
  r.type = reply::kind::error;
  r.bytes = blob::copy_of(text);
  return r;
}
reply status(const char* text) {
  reply r;
  r.type = reply::kind::status;
  r.bytes = blob::copy_of(text);
  return r;
}
reply string(const char* text) {
  reply r = status(text);
  r.type = reply::kind::string;
  return r;
}
reply pair(const char* a, const char* b) {
  reply r;
  r.type = reply::kind::array;
  r.elements = {string(a), string(b)};
  return r;
}

}  // namespace

TEST_CASE("handshake: the setup commands follow the options") {
  struct row {
    const char* user;
    const char* password;
    unsigned db;
    bool select, policy, library;
    std::vector<step> steps;
    const char* first;  // the first command in RESP, or ""
  };
  const std::vector<row> rows = {
      {"", "", 0, true, false, false, {}, ""},
      {"", "pw", 0, true, false, false, {step::auth}, "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"},
      {"al",
       "pw",
       0,
       true,
       false,
       false,
       {step::auth},
       "*3\r\n$4\r\nAUTH\r\n$2\r\nal\r\n$2\r\npw\r\n"},
      {"al", "", 0, true, false, false, {step::auth}, "*3\r\n$4\r\nAUTH\r\n$2\r\nal\r\n$0\r\n\r\n"},
      {"", "", 5, true, false, false, {step::select}, "*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n"},
      {"", "", 5, false, false, false, {}, ""},
      {"",
       "pw",
       2,
       true,
       true,
       true,
       {step::auth, step::select, step::policy, step::function_load},
       "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"},
  };
  for (const auto& r : rows) {
    redis_connection_options o;
    o.user = r.user;
    o.password = r.password;
    o.db = r.db;
    setup_wants w;
    w.select = r.select;
    w.check_policy = r.policy;
    if (r.library) w.function_library = "#!lua name=x\n";
    const auto plan = plan_setup(o, w);
    REQUIRE(plan.size() == r.steps.size());
    for (std::size_t i = 0; i < plan.size(); ++i)
      CHECK(plan[i].what == r.steps[i]);
    if (!plan.empty()) CHECK(plan.front().text == r.first);
  }
}

TEST_CASE("handshake: verdicts on each step's replies") {
  struct row {
    step s;
    reply r;
    bool accept_allkeys;
    verdict::kind expect;
    const char* names;
  };
  const std::vector<row> rows = {
      {step::auth, status("OK"), false, verdict::kind::ok, ""},
      {step::auth, error("WRONGPASS invalid username-password pair"), false, verdict::kind::refuse,
       "WRONGPASS"},
      {step::auth, error("ERR AUTH <password> called without any password configured"), false,
       verdict::kind::refuse, "without any password"},
      {step::select, error("ERR DB index is out of range"), false, verdict::kind::refuse,
       "out of range"},
      {step::policy, pair("maxmemory-policy", "noeviction"), false, verdict::kind::ok, ""},
      {step::policy, pair("maxmemory-policy", "volatile-lru"), false, verdict::kind::ok, ""},
      {step::policy, pair("maxmemory-policy", "allkeys-lru"), false, verdict::kind::refuse,
       "maxmemory-policy is allkeys-lru"},
      {step::policy, pair("maxmemory-policy", "allkeys-random"), false, verdict::kind::refuse,
       "allkeys-random"},
      {step::policy, pair("maxmemory-policy", "allkeys-lfu"), true, verdict::kind::ok, ""},
      {step::policy, error("NOPERM this user has no permissions to run the 'config' command"),
       false, verdict::kind::note, "eviction policy was not checked"},
      {step::policy, error("ERR unknown command 'CONFIG'"), false, verdict::kind::note,
       "unknown command"},
      {step::policy, reply{}, false, verdict::kind::note, "gave no policy"},
      {step::policy, error("NOAUTH Authentication required."), false, verdict::kind::refuse,
       "NOAUTH"},
      {step::function_load, string("larder_v1"), false, verdict::kind::ok, ""},
      {step::function_load, error("ERR unknown command 'FUNCTION'"), false, verdict::kind::note,
       "FUNCTION"},
      {step::function_load, error("NOAUTH Authentication required."), false, verdict::kind::refuse,
       "NOAUTH"},
  };
  for (const auto& r : rows) {
    INFO(step_name(r.s) << ": " << r.names);
    setup_wants w;
    w.accept_allkeys = r.accept_allkeys;
    const auto v = judge(r.s, r.r, w);
    CHECK(v.what == r.expect);
    CHECK(v.text.find(r.names) != std::string::npos);
  }
  reply lost;
  lost.fault = make_error_code(errc::timed_out);
  CHECK(judge(step::auth, lost, {}).what == verdict::kind::refuse);
}

TEST_CASE("handshake: error text and command error codes") {
  CHECK(describe_error(step::auth, "127.0.0.1:6380", "WRONGPASS x") ==
        "auth on 127.0.0.1:6380: WRONGPASS x");
  CHECK(describe_error(step::tls, "h:1 (tls)", "bad") == "tls handshake on h:1 (tls): bad");
  CHECK(classify_command_error("OOM command not allowed when used memory > 'maxmemory'.") ==
        errc::no_space);
  CHECK(classify_command_error("ERR Function not found") == errc::remote_error);
  CHECK(classify_command_error("NOPERM no permission") == errc::remote_error);
}
