// parse_redis_url: tables of good URLs with every field they set, and bad ones with the
// words their error must name.
#include <catch2/catch.hpp>
#include <string>
#include <system_error>
#include <vector>

#include "larder/error.hpp"
#include "larder/redis_connection.hpp"

using namespace larder;

namespace {

struct good_case {
  const char* url;
  const char* host;
  std::uint16_t port;
  const char* unix_path;
  const char* user;
  const char* password;
  unsigned db;
  bool tls;
};

struct bad_case {
  const char* url;
  const char* names;  // a part of the message that says what is wrong
};

}  // namespace

TEST_CASE("parse_redis_url: good URLs set exactly their fields") {
  const std::vector<good_case> cases = {
      {"redis://localhost", "localhost", 6379, "", "", "", 0, false},
      {"redis://127.0.0.1:6380", "127.0.0.1", 6380, "", "", "", 0, false},
      {"redis://127.0.0.1:6380/3", "127.0.0.1", 6380, "", "", "", 3, false},
      {"redis://h/", "h", 6379, "", "", "", 0, false},
      {"redis://:s3cret@h:1", "h", 1, "", "", "s3cret", 0, false},
      {"redis://alice:s3cret@h:65535/15", "h", 65535, "", "alice", "s3cret", 15, false},
      {"redis://alice@h", "h", 6379, "", "alice", "", 0, false},
      {"redis://al%69ce:p%40ss%3Aw%2Fd@h", "h", 6379, "", "alice", "p@ss:w/d", 0, false},
      {"redis://u:pa:ss@h", "h", 6379, "", "u", "pa:ss", 0, false},
      {"redis://u:p@ss@h", "h", 6379, "", "u", "p@ss", 0, false},
      {"redis://[::1]:7000/2", "::1", 7000, "", "", "", 2, false},
      {"redis://[::1]", "::1", 6379, "", "", "", 0, false},
      {"redis://h?db=4", "h", 6379, "", "", "", 4, false},
      {"redis://h?user=bob&password=x%20y", "h", 6379, "", "bob", "x y", 0, false},
      {"rediss://cache.example:6390/1", "cache.example", 6390, "", "", "", 1, true},
      {"rediss://bob:pw@10.0.0.1", "10.0.0.1", 6379, "", "bob", "pw", 0, true},
      {"unix:///run/redis/redis.sock", "127.0.0.1", 6379, "/run/redis/redis.sock", "", "", 0,
       false},
      {"unix:///tmp/r.sock?db=9", "127.0.0.1", 6379, "/tmp/r.sock", "", "", 9, false},
      {"unix://u:pw@/tmp/r.sock", "127.0.0.1", 6379, "/tmp/r.sock", "u", "pw", 0, false},
      {"unix:///tmp/r.sock?password=pw&db=2", "127.0.0.1", 6379, "/tmp/r.sock", "", "pw", 2, false},
  };
  for (const auto& c : cases) {
    INFO(c.url);
    const auto parsed = parse_redis_url(c.url);
    INFO(parsed.error);
    REQUIRE(parsed);
    const auto& o = *parsed.connection;
    CHECK(o.host == c.host);
    CHECK(o.port == c.port);
    CHECK(o.unix_path == c.unix_path);
    CHECK(o.user == c.user);
    CHECK(o.password == c.password);
    CHECK(o.db == c.db);
    CHECK(o.tls.enabled == c.tls);
    CHECK(parsed.error.empty());
  }
}

TEST_CASE("parse_redis_url: bad URLs are refused with a message naming what is wrong") {
  const std::vector<bad_case> cases = {
      {"", "empty URL"},
      {"localhost:6379", "no scheme"},
      {"http://h", "unknown scheme 'http'"},
      {"REDIS://h", "unknown scheme 'REDIS'"},
      {"redis://", "no host"},
      {"redis://:6379", "no host"},
      {"redis://u:p@", "no host"},
      {"redis://h:", "empty port"},
      {"redis://h:0", "port '0'"},
      {"redis://h:65536", "port '65536'"},
      {"redis://h:63x", "port '63x'"},
      {"redis://h:-1", "port '-1'"},
      {"redis://h/x", "database 'x' in the path"},
      {"redis://h/1/2", "database '1/2'"},
      {"redis://h/-1", "database '-1'"},
      {"redis://h/99999999999", "database '99999999999'"},
      {"redis://h/1?db=2", "database given twice"},
      {"redis://h?db=", "database ''"},
      {"redis://h?tls=yes", "unknown query parameter 'tls'"},
      {"redis://h?db", "has no '=value'"},
      {"redis://@h", "neither a user nor a password"},
      {"redis://u:%zz@h", "%-escape in the password"},
      {"redis://%4@h", "%-escape in the user"},
      {"redis://[::1", "no closing ']'"},
      {"redis://[::1]x", "after the IPv6 host"},
      {"redis://h #x", "whitespace"},
      {"redis://h#frag", "fragment"},
      {"unix://", "no socket path"},
      {"unix://relative.sock", "not absolute"},
      {"unix:///tmp/", "is a directory"},
      {"unix:///tmp/r.sock?db=z", "database 'z' in ?db="},
  };
  for (const auto& c : cases) {
    INFO(c.url);
    const auto parsed = parse_redis_url(c.url);
    REQUIRE_FALSE(parsed);
    INFO(parsed.error);
    CHECK(parsed.error.rfind("redis URL: ", 0) == 0);
    CHECK(parsed.error.find(c.names) != std::string::npos);
  }
}

TEST_CASE("apply_redis_url: replaces the connection fields, or throws with the message") {
  redis_connection_options o;
  o.url = "rediss://bob:pw@cache:7001/5";
  o.tls.ca_file = "/etc/ca.pem";
  apply_redis_url(o);
  CHECK(o.host == "cache");
  CHECK(o.port == 7001);
  CHECK(o.user == "bob");
  CHECK(o.password == "pw");
  CHECK(o.db == 5);
  CHECK(o.tls.enabled);
  CHECK(o.tls.ca_file == "/etc/ca.pem");  // files are not in the URL: kept
  CHECK(describe_endpoint(o) == "cache:7001 (tls)");

  redis_connection_options bad;
  bad.url = "redis://h:99999";
  try {
    apply_redis_url(bad);
    FAIL("no exception");
  } catch (const std::system_error& e) {
    CHECK(e.code() == errc::invalid_argument);
    CHECK(std::string(e.what()).find("port '99999'") != std::string::npos);
  }

  redis_connection_options v6;
  v6.host = "::1";
  v6.port = 1;
  CHECK(describe_endpoint(v6) == "[::1]:1");
  redis_connection_options local;
  local.unix_path = "/tmp/r.sock";
  CHECK(describe_endpoint(local) == "unix:/tmp/r.sock");
}
