// Redis Cluster without a server: slots of keys (CRC16 and hash tags), CLUSTER SLOTS
// replies turned into a slot map, and redirect errors classified, as tables.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "stores/redis/cluster.hpp"

using namespace larder::redis;

namespace {

reply integer(long long v) {
  reply r;
  r.type = reply::kind::integer;
  r.integer = v;
  return r;
}
reply string(std::string_view s) {
  reply r;
  r.type = reply::kind::string;
  r.bytes = larder::blob::copy_of(s);
  return r;
}
reply array(std::vector<reply> e) {
  reply r;
  r.type = reply::kind::array;
  r.elements = std::move(e);
  return r;
}
reply error(std::string_view s) {
  reply r = string(s);
  r.type = reply::kind::error;
  return r;
}
reply range(long long first, long long last, std::string_view host, long long port) {
  return array({integer(first), integer(last), array({string(host), integer(port), string("id")}),
                array({string("127.0.0.9"), integer(7000), string("replica")})});
}

}  // namespace

TEST_CASE("key_slot follows the Redis Cluster specification", "[redis][cluster]") {
  CHECK(crc16("123456789") == 0x31c3);  // the CRC16-XMODEM check value
  struct row {
    const char* key;
    std::uint16_t slot;
  };
  // Slots as `CLUSTER KEYSLOT` answers them.
  const std::vector<row> rows = {
      {"foo", 12182},
      {"bar", 5061},
      {"", 0},
      {"123456789", 0x31c3 & 16383},
      {"{user1000}.following", 3443},
      {"{user1000}.followers", 3443},
      {"user1000", 3443},
      {"foo{}{bar}", key_slot("foo{}{bar}")},  // empty first tag: whole key
      {"foo{{bar}}zap", key_slot("{bar")},     // the tag is "{bar"
      {"foo{bar}{zap}", key_slot("bar")},      // only the first tag counts
      {"{larder.3}:d:k", key_slot("larder.3")},
  };
  for (const auto& r : rows) {
    INFO(r.key);
    CHECK(key_slot(r.key) == r.slot);
  }
  CHECK(key_slot("foo{}{bar}") == crc16("foo{}{bar}") % 16384);
  CHECK(key_slot("foo{{bar}}zap") == crc16("{bar") % 16384);
  CHECK(key_slot("foo{bar") == crc16("foo{bar") % 16384);  // unclosed: whole key
}

TEST_CASE("parse_cluster_slots builds the slot map", "[redis][cluster]") {
  const reply three = array({range(0, 5460, "127.0.0.1", 7001), range(5461, 10922, "", 7002),
                             range(10923, 16383, "127.0.0.1", 7003)});
  auto p = parse_cluster_slots(three, "10.0.0.5");
  REQUIRE(p.map);
  CHECK(p.error.empty());
  CHECK(p.map->masters.size() == 3);
  CHECK(p.map->covered() == slot_count);
  CHECK(p.map->master_of(0)->name() == "127.0.0.1:7001");
  CHECK(p.map->master_of(5460)->name() == "127.0.0.1:7001");
  CHECK(p.map->master_of(5461)->name() == "10.0.0.5:7002");  // empty host: the one asked
  CHECK(p.map->master_of(16383)->name() == "127.0.0.1:7003");

  // One master with two ranges (after a reshard) is one node; gaps have no owner.
  const reply split = array({range(0, 99, "::1", 7001), range(200, 299, "::1", 7001)});
  p = parse_cluster_slots(split, "h");
  REQUIRE(p.map);
  CHECK(p.map->masters.size() == 1);
  CHECK(p.map->covered() == 200);
  CHECK(p.map->master_of(150) == nullptr);
  CHECK(p.map->master_of(250)->name() == "[::1]:7001");

  struct bad {
    reply r;
    const char* names;
  };
  const std::vector<bad> bads = {
      {error("ERR This instance has cluster support disabled"), "cluster support disabled"},
      {integer(3), "array"},
      {array({}), "no slot"},
      {array({array({integer(0), integer(1)})}), "entry 0"},
      {array({range(0, 16384, "h", 1)}), "outside 0-16383"},
      {array({range(10, 5, "h", 1)}), "10-5"},
      {array({range(0, 5, "h", 0)}), "master is not"},
      {array({array({integer(0), integer(5), string("h")})}), "master is not"},
  };
  for (const auto& b : bads) {
    const auto q = parse_cluster_slots(b.r, "h");
    INFO(b.names);
    CHECK_FALSE(q.map);
    CHECK(q.error.find(b.names) != std::string::npos);
  }
}

TEST_CASE("classify_redirect reads MOVED, ASK, TRYAGAIN and CLUSTERDOWN", "[redis][cluster]") {
  using k = redirect::kind;
  struct row {
    const char* text;
    k what;
    std::uint16_t slot;
    const char* to;
  };
  const std::vector<row> rows = {
      {"MOVED 3999 127.0.0.1:6381", k::moved, 3999, "127.0.0.1:6381"},
      {"ASK 3999 127.0.0.1:6381", k::ask, 3999, "127.0.0.1:6381"},
      {"MOVED 16383 :6381", k::moved, 16383, "cur:6381"},  // empty host: the one asked
      {"MOVED 7 ::1:6381", k::moved, 7, "[::1]:6381"},
      {"MOVED 7 [::1]:6381", k::moved, 7, "[::1]:6381"},
      {"TRYAGAIN Multiple keys request during rehashing of slot", k::try_again, 0, ""},
      {"CLUSTERDOWN The cluster is down", k::cluster_down, 0, ""},
      {"ERR Script attempted to access a non local key in a cluster node script: "
       "larder_invalidate_v1, on @user_function:12.",
       k::try_again, 0, ""},
      {"ERR Unable to execute command in script because undeclared keys were accessed "
       "during rehashing of the slot",
       k::try_again, 0, ""},
      {"MOVED 16384 h:1", k::none, 0, ""},  // no such slot
      {"MOVED x h:1", k::none, 0, ""},
      {"MOVED 5 h", k::none, 0, ""},
      {"MOVED 5 h:0", k::none, 0, ""},
      {"MOVED 5", k::none, 0, ""},
      {"ERR unknown command", k::none, 0, ""},
      {"OOM command not allowed", k::none, 0, ""},
      {"ASKING", k::none, 0, ""},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    const auto d = classify_redirect(r.text, "cur");
    CHECK(d.what == r.what);
    if (r.what == k::moved || r.what == k::ask) {
      CHECK(d.slot == r.slot);
      CHECK(d.to.name() == r.to);
    }
  }
}
