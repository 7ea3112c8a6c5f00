// larder-server over raw sockets: every status it answers, framing faults, limits, timeouts,
// credentials, CAS verification, clients that vanish, SIGTERM draining, SIGKILL recovery.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <thread>

#include "support/disk_fixture.hpp"
#include "support/http_client.hpp"

using namespace server_test;
using larder::testing::temp_dir;
using namespace std::chrono_literals;

namespace {
const std::string hello_sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

std::uint64_t metric(unsigned port, const std::string& line_prefix) {
  auto text = request(port, "GET", "/metrics").body;
  auto at = text.find("\n" + line_prefix + " ");
  if (at == std::string::npos) return ~0ull;
  return std::stoull(text.substr(at + line_prefix.size() + 2));
}
}  // namespace

TEST_CASE("server: ccache and Bazel statuses, keep-alive and pipelining") {
  temp_dir dir;
  auto srv = server_process::start(dir.path(), {"--max-body", "1K", "--max-header-bytes", "2048"});
  unsigned port = srv.port;

  CHECK(request(port, "GET", "/ccache/ab/cdef").status == 404);
  CHECK(request(port, "HEAD", "/ccache/ab/cdef").status == 404);
  CHECK(request(port, "PUT", "/ccache/ab/cdef", "object bytes").status == 201);
  auto hit = request(port, "GET", "/ccache/ab/cdef");
  CHECK(hit.status == 200);
  CHECK(hit.body == "object bytes");
  auto head = request(port, "HEAD", "/ccache/ab/cdef");
  CHECK(head.status == 200);
  CHECK(head.header("content-length") == "12");
  CHECK(head.body.empty());
  CHECK(request(port, "DELETE", "/ccache/ab/cdef").status == 204);
  CHECK(request(port, "DELETE", "/ccache/ab/cdef").status == 404);
  CHECK(request(port, "GET", "/ccache/ab/cdef").status == 404);
  CHECK(request(port, "POST", "/ccache/x").status == 405);
  CHECK(request(port, "GET", "/ccache/").status == 404);

  // Bazel: a CAS upload must hash to its name; AC entries are not content-addressed.
  CHECK(request(port, "PUT", "/cas/" + hello_sha, "hello").status == 201);
  CHECK(request(port, "GET", "/cas/" + hello_sha).body == "hello");
  CHECK(request(port, "PUT", "/cas/" + std::string(64, '0'), "hello").status == 400);
  CHECK(request(port, "GET", "/cas/" + std::string(64, '0')).status == 404);
  CHECK(request(port, "PUT", "/cas/not-a-hash", "hello").status == 400);
  CHECK(request(port, "PUT", "/ac/" + std::string(64, '1'), "action result").status == 201);
  CHECK(request(port, "GET", "/ac/" + std::string(64, '1')).body == "action result");

  // Three pipelined requests in one write, three answers in order, connection kept.
  connection c(port);
  c.send(
      "PUT /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /p HTTP/1.1\r\n\r\n"
      "GET /missing HTTP/1.1\r\n\r\n");
  CHECK(c.read().status == 201);
  auto second = c.read();
  CHECK(second.status == 200);
  CHECK(second.body == "abc");
  CHECK(c.read().status == 404);
  c.send("GET /p HTTP/1.1\r\n\r\n");
  CHECK(c.read().body == "abc");

  // Chunked upload, and Expect: 100-continue.
  connection chunked(port);
  chunked.send(
      "PUT /chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n");
  CHECK(chunked.read().status == 201);
  CHECK(request(port, "GET", "/chunked").body == "abcdefg");
  connection expect(port);
  expect.send("PUT /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  CHECK(expect.read().status == 100);
  expect.send("ok");
  CHECK(expect.read().status == 201);

  CHECK(request(port, "GET", "/status").status == 200);
  auto metrics = request(port, "GET", "/metrics");
  CHECK(metrics.status == 200);
  CHECK(metrics.body.find("larder_server_requests_total{method=\"PUT\",status=\"201\"}") !=
        std::string::npos);
  CHECK(metrics.body.find("larder_store_entries{tier=\"disk\"}") != std::string::npos);
  CHECK(metric(port, "larder_server_cas_mismatches_total") == 1);
  CHECK(srv.stop() == 0);
}

TEST_CASE("server: malformed framing and limits get a 4xx and a closed connection") {
  temp_dir dir;
  auto srv = server_process::start(
      dir.path(), {"--max-body", "1K", "--max-header-bytes", "2048", "--read-timeout-secs", "1"});
  struct row {
    const char* name;
    std::string bytes;
    int status;
  };
  const std::vector<row> rows = {
      {"garbage", "NONSENSE\r\n\r\n", 400},
      {"bad chunk", "PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", 400},
      {"declared too large", "PUT /k HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", 413},
      {"chunked too large",
       "PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n" + std::string(2048, 'x'),
       413},
      {"oversized head", "GET / HTTP/1.1\r\nX: " + std::string(4000, 'h') + "\r\n\r\n", 431},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400},
  };
  for (const auto& r : rows) {
    INFO(r.name);
    connection c(srv.port);
    c.send(r.bytes);
    CHECK(c.read().status == r.status);
    CHECK(c.closed_by_peer());
  }
  // A client that stalls inside a request gets 408 after the read timeout.
  connection slow(srv.port);
  slow.send("PUT /slow HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(slow.read(5s).status == 408);
  CHECK(slow.closed_by_peer());
  CHECK(request(srv.port, "GET", "/slow").status == 404);
  // The server still serves after all that.
  CHECK(request(srv.port, "PUT", "/k", "v").status == 201);
  CHECK(metric(srv.port, "larder_server_malformed_requests_total") == rows.size());
}

TEST_CASE("server: a client that disappears mid-upload leaves no entry") {
  temp_dir dir;
  auto srv = server_process::start(dir.path(), {});
  {
    connection c(srv.port);
    c.send("PUT /ccache/ab/partial HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" +
           std::string(5000, 'p'));
  }
  {
    connection c(srv.port);
    c.send("PUT /ccache/ab/chunky HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n");
  }
  std::this_thread::sleep_for(200ms);
  CHECK(request(srv.port, "GET", "/ccache/ab/partial").status == 404);
  CHECK(request(srv.port, "GET", "/ccache/ab/chunky").status == 404);
  CHECK(metric(srv.port, "larder_server_aborted_requests_total") == 2);
}

TEST_CASE("server: concurrent uploads of one key leave one whole value") {
  temp_dir dir;
  auto srv = server_process::start(dir.path(), {});
  std::vector<std::thread> writers;
  std::vector<int> statuses(8, 0);
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      std::string v(200000, char('a' + t));
      statuses[t] = request(srv.port, "PUT", "/ccache/same", v).status;
    });
  }
  for (auto& w : writers)
    w.join();
  for (int s : statuses)
    CHECK(s == 201);
  auto got = request(srv.port, "GET", "/ccache/same");
  REQUIRE(got.status == 200);
  REQUIRE(got.body.size() == 200000);
  CHECK(got.body == std::string(200000, got.body[0]));
  // And after a restart, from the disk tier.
  CHECK(srv.stop() == 0);
  auto again = server_process::start(dir.path(), {});
  auto disk = request(again.port, "GET", "/ccache/same");
  REQUIRE(disk.status == 200);
  CHECK(disk.body == std::string(200000, disk.body[0]));
}

TEST_CASE("server: uploads in flight are bounded by --max-upload-memory") {
  temp_dir dir;
  auto srv = server_process::start(dir.path(), {"--max-upload-memory", "1K"});
  connection a(srv.port);
  a.send("PUT /a HTTP/1.1\r\nContent-Length: 800\r\n\r\n" + std::string(100, 'a'));
  std::this_thread::sleep_for(100ms);
  auto refused = request(srv.port, "PUT", "/b", std::string(800, 'b'));
  CHECK(refused.status == 503);
  CHECK(refused.header("retry-after") == "1");
  connection chunked(srv.port);  // a chunked upload is counted as it grows
  chunked.send("PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n300\r\n" +
               std::string(0x300, 'c') + "\r\n");
  CHECK(chunked.read().status == 503);
  a.send(std::string(700, 'a'));
  CHECK(a.read().status == 201);
  CHECK(request(srv.port, "PUT", "/b", std::string(800, 'b')).status == 201);
  CHECK(metric(srv.port, "larder_server_uploads_over_budget_total") == 2);
}

TEST_CASE("server: basic and bearer credentials, read-only and read-write") {
  temp_dir dir;
  auto srv = server_process::start(
      dir.path(), {"--read-only-user", "ro:pw1", "--read-write-user", "rw:pw2",
                   "--read-write-token", "secret-token", "--read-only-token", "ro-token"});
  unsigned port = srv.port;
  auto none = request(port, "GET", "/k");
  CHECK(none.status == 401);
  CHECK(none.header("www-authenticate").find("Basic") == 0);
  CHECK(request(port, "PUT", "/k", "v").status == 401);
  // "ro:wrong", "ro:pw1", "rw:pw2" in base64.
  CHECK(request(port, "GET", "/k", "", "Authorization: Basic cm86d3Jvbmc=\r\n").status == 401);
  CHECK(request(port, "PUT", "/k", "v", "Authorization: Basic cm86cHcx\r\n").status == 403);
  CHECK(request(port, "DELETE", "/k", "", "Authorization: Basic cm86cHcx\r\n").status == 403);
  CHECK(request(port, "PUT", "/k", "v", "Authorization: Basic cnc6cHcy\r\n").status == 201);
  CHECK(request(port, "GET", "/k", "", "Authorization: Basic cm86cHcx\r\n").status == 200);
  CHECK(request(port, "PUT", "/k", "v", "Authorization: Bearer ro-token\r\n").status == 403);
  CHECK(request(port, "PUT", "/k", "w", "Authorization: Bearer secret-token\r\n").status == 201);
  CHECK(request(port, "GET", "/k", "", "Authorization: Bearer secret-token\r\n").body == "w");
  CHECK(request(port, "GET", "/k", "", "Authorization: Bearer wrong\r\n").status == 401);
  CHECK(request(port, "GET", "/metrics").status == 401);
  CHECK(request(port, "GET", "/status").status == 200);
}

TEST_CASE("server: SIGTERM finishes the request in flight, flushes, and exits 0") {
  temp_dir dir;
  auto srv = server_process::start(dir.path(), {});
  CHECK(request(srv.port, "PUT", "/before", "durable").status == 201);
  connection idle(srv.port);
  connection busy(srv.port);
  busy.send("PUT /during HTTP/1.1\r\nContent-Length: 6\r\n\r\nhal");
  std::this_thread::sleep_for(200ms);
  kill(srv.pid, SIGTERM);
  std::this_thread::sleep_for(200ms);
  CHECK(idle.closed_by_peer());
  busy.send("f!!");
  auto answer = busy.read();
  CHECK(answer.status == 201);
  CHECK(answer.header("connection") == "close");
  CHECK(srv.stop(0) == 0);
  auto again = server_process::start(dir.path(), {});
  CHECK(request(again.port, "GET", "/before").body == "durable");
  CHECK(request(again.port, "GET", "/during").body == "half!!");
}

TEST_CASE("server: SIGKILL during uploads, then a restart serves nothing corrupt") {
  temp_dir dir;
  auto value_of = [](int i) { return std::string(1000 + (i * 37) % 20000, char('a' + i % 26)); };
  {
    auto srv = server_process::start(dir.path(), {"--flush-every-secs", "1"});
    std::vector<std::thread> writers;
    for (int t = 0; t < 4; ++t) {
      writers.emplace_back([&, t] {
        for (int i = t; i < 4000; i += 4) {
          try {
            connection c(srv.port);
            auto v = value_of(i);
            c.send("PUT /ccache/k" + std::to_string(i) +
                   " HTTP/1.1\r\nContent-Length: " + std::to_string(v.size()) + "\r\n\r\n" + v);
            if (c.read(2s).status == 0) return;
          } catch (...) {
            return;  // the server is gone
          }
        }
      });
    }
    std::this_thread::sleep_for(1500ms);
    srv.stop(SIGKILL);
    for (auto& w : writers)
      w.join();
  }
  auto srv = server_process::start(dir.path(), {});
  int hits = 0, wrong = 0;
  for (int i = 0; i < 4000; ++i) {
    auto r = request(srv.port, "GET", "/ccache/k" + std::to_string(i));
    if (r.status == 200) {
      ++hits;
      if (r.body != value_of(i)) ++wrong;
    } else if (r.status != 404) {
      ++wrong;
    }
  }
  INFO(hits << " entries survived");
  CHECK(hits > 0);
  CHECK(wrong == 0);
}

TEST_CASE("server: two servers over one Redis tier share their entries") {
  const char* built = std::getenv("LARDER_SERVER_REDIS");
  if (built && std::string(built) == "0") {
    WARN("larder-server was built without the Redis tier: skipped");
    return;
  }
  if (std::system("command -v redis-server >/dev/null 2>&1") != 0) {
    WARN("redis-server not installed: skipped");
    return;
  }
  temp_dir dir;
  std::string sock = dir.path() + "/redis.sock";
  std::string start = "redis-server --port 0 --unixsocket " + sock + " --save '' --dir " +
                      dir.path() + " --daemonize yes --pidfile " + dir.path() + "/redis.pid";
  REQUIRE(std::system((start + " >/dev/null").c_str()) == 0);
  for (int i = 0; i < 200 && !std::filesystem::exists(sock); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  std::filesystem::create_directories(dir.path() + "/a");
  std::filesystem::create_directories(dir.path() + "/b");
  {
    auto a = server_process::start(dir.path() + "/a", {"--redis", "unix://" + sock});
    auto b = server_process::start(dir.path() + "/b", {"--redis", "unix://" + sock});
    CHECK(request(a.port, "PUT", "/ccache/ab/shared", "from a").status == 201);
    auto got = request(b.port, "GET", "/ccache/ab/shared");
    CHECK(got.status == 200);
    CHECK(got.body == "from a");
    CHECK(
        request(b.port, "GET", "/metrics").body.find("larder_store_hits_total{tier=\"redis\"} 1") !=
        std::string::npos);
  }
  std::system(("kill $(cat " + dir.path() + "/redis.pid)").c_str());
}
