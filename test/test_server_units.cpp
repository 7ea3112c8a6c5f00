// larder-server's sans-I/O parts: the request reader, the router, the Prometheus writer.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/prometheus.hpp"
#include "tools/server/request_reader.hpp"
#include "tools/server/router.hpp"

using namespace larder::server;
using event = request_reader::event;

namespace {
struct outcome {
  std::vector<std::string> done;  // "METHOD target body" per completed request
  int error = 0;
};

// Feeds `input` in pieces of `piece` bytes, completing requests as a connection would.
outcome run_reader(const std::string& input, std::size_t piece, reader_limits limits = {}) {
  request_reader reader(limits);
  outcome out;
  std::string buffer;
  std::size_t fed = 0;
  std::size_t used = 0;
  while (true) {
    auto s = reader.feed(buffer.data() + used, buffer.size() - used);
    used += s.consumed;
    if (s.what == event::error) {
      out.error = reader.error_status();
      return out;
    }
    if (s.what == event::message_done) {
      out.done.push_back(reader.head().method + " " + reader.head().target + " " + reader.body());
      reader.next();
      continue;
    }
    if (s.what == event::headers_done) continue;
    if (fed == input.size()) {
      auto f = reader.finish();
      if (f.what == event::error) out.error = reader.error_status();
      return out;
    }
    std::size_t n = std::min(piece, input.size() - fed);
    buffer.append(input, fed, n);
    fed += n;
  }
}
}  // namespace

TEST_CASE("request_reader frames requests, whole or byte by byte") {
  struct row {
    const char* name;
    std::string input;
    std::vector<std::string> done;
    int error;
  };
  const std::vector<row> rows = {
      {"get", "GET /a/b HTTP/1.1\r\nHost: x\r\n\r\n", {"GET /a/b "}, 0},
      {"put with length", "PUT /k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", {"PUT /k hello"}, 0},
      {"chunked put",
       "PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n",
       {"PUT /k hello"},
       0},
      {"pipelined",
       "PUT /k HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /k HTTP/1.1\r\n\r\nHEAD /j "
       "HTTP/1.1\r\n\r\n",
       {"PUT /k hi", "GET /k ", "HEAD /j "},
       0},
      {"garbage", "HELLO\r\n\r\n", {}, 400},
      {"bad chunk size", "PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}, 400},
      {"header without colon", "GET / HTTP/1.1\r\nnocolon\r\n\r\n", {}, 400},
      {"declared body too large", "PUT /k HTTP/1.1\r\nContent-Length: 1000\r\n\r\n", {}, 413},
      {"chunked body too large",
       "PUT /k HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n80\r\n" + std::string(128, 'x') +
           "\r\n0\r\n\r\n",
       {},
       413},
      {"head too large", "GET / HTTP/1.1\r\nX: " + std::string(600, 'a') + "\r\n\r\n", {}, 431},
      {"target too long", "GET /" + std::string(300, 'a') + " HTTP/1.1\r\n\r\n", {}, 414},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", {}, 400},
      {"cut inside head", "GET /a HTTP/1.1\r\nHo", {}, 400},
      {"cut inside body", "PUT /k HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", {}, 400},
      {"length and chunked",
       "PUT /k HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
       {},
       400},
  };
  reader_limits limits;
  limits.max_body = 100;
  limits.max_header_bytes = 512;
  limits.max_target = 200;
  for (const auto& r : rows) {
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, std::size_t{4096}}) {
      INFO(r.name << " in pieces of " << piece);
      auto got = run_reader(r.input, piece, limits);
      CHECK(got.done == r.done);
      CHECK(got.error == r.error);
    }
  }
}

TEST_CASE("request_reader reports keep-alive, Expect and lengths") {
  request_reader reader;
  std::string in =
      "PUT /k HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
  auto s = reader.feed(in.data(), in.size());
  REQUIRE(s.what == event::headers_done);
  CHECK(reader.head().expect_continue);
  CHECK_FALSE(reader.head().keep_alive);
  CHECK(reader.head().content_length == 3);
  CHECK(reader.head().header("content-length") == "3");
  request_reader old;
  std::string http10 = "GET / HTTP/1.0\r\n\r\n";
  auto t = old.feed(http10.data(), http10.size());
  REQUIRE(t.what == event::message_done);
  CHECK_FALSE(old.head().keep_alive);
}

TEST_CASE("router maps methods and paths to actions and statuses") {
  const std::string sha(64, 'a');
  struct row {
    std::string method, target;
    action what;
    int status;
    protocol proto;
  };
  const std::vector<row> rows = {
      {"GET", "/ccache/ab/cdef", action::get, 0, protocol::ccache},
      {"HEAD", "/ccache/abcdef", action::head, 0, protocol::ccache},
      {"PUT", "/ccache/ab/cdef", action::put, 0, protocol::ccache},
      {"DELETE", "/x", action::erase, 0, protocol::ccache},
      {"GET", "/ac/" + sha, action::get, 0, protocol::bazel_ac},
      {"PUT", "/cas/" + sha, action::put, 0, protocol::bazel_cas},
      {"PUT", "/prefix/cas/" + sha, action::put, 0, protocol::bazel_cas},
      {"PUT", "/cas/abc", action::refuse, 400, protocol::none},
      {"GET", "/ac/" + std::string(64, 'A'), action::refuse, 400, protocol::none},
      {"POST", "/x", action::refuse, 405, protocol::none},
      {"PATCH", "/x", action::refuse, 405, protocol::none},
      {"GET", "http://host/x", action::refuse, 400, protocol::none},
      {"GET", "*", action::refuse, 400, protocol::none},
      {"GET", "/dir/", action::refuse, 404, protocol::none},
      {"GET", "/metrics", action::metrics, 0, protocol::none},
      {"GET", "/status", action::status, 0, protocol::none},
      {"PUT", "/metrics", action::refuse, 405, protocol::none},
  };
  for (const auto& r : rows) {
    INFO(r.method << " " << r.target);
    request_head h;
    h.method = r.method;
    h.target = r.target;
    auto got = decide(h, {});
    CHECK(got.what == r.what);
    CHECK(got.status == r.status);
    if (r.what != action::refuse && r.what != action::metrics && r.what != action::status) {
      CHECK(got.proto == r.proto);
      CHECK(got.key == r.target);
    }
  }
  request_head cas;
  cas.method = "PUT";
  cas.target = "/cas/" + sha;
  CHECK(decide(cas, {}).sha256 == sha);
  cas.target = "/cas/" + sha + "?x=1";
  CHECK(decide(cas, {}).key == "/cas/" + sha);
}

TEST_CASE("router applies credentials: none, wrong, read-only, read-write, bearer") {
  auth_policy auth;
  auth.read_only_basic = {"reader:r"};
  auth.read_write_basic = {"writer:w"};
  auth.read_only_tokens = {"tok-ro"};
  auth.read_write_tokens = {"tok-rw"};
  struct row {
    std::string method, authorization;
    int status;  // 0: allowed
  };
  const std::vector<row> rows = {
      {"GET", "", 401},
      {"PUT", "", 401},
      {"GET", "Basic " + base64("reader:wrong"), 401},
      {"GET", "Basic " + base64("reader:r"), 0},
      {"PUT", "Basic " + base64("reader:r"), 403},
      {"DELETE", "Basic " + base64("reader:r"), 403},
      {"PUT", "Basic " + base64("writer:w"), 0},
      {"PUT", "basic   " + base64("writer:w"), 0},
      {"GET", "Bearer tok-ro", 0},
      {"PUT", "Bearer tok-ro", 403},
      {"PUT", "Bearer tok-rw", 0},
      {"PUT", "Bearer tok-r", 401},
      {"GET", "Digest abc", 401},
  };
  for (const auto& r : rows) {
    INFO(r.method << " with '" << r.authorization << "'");
    request_head h;
    h.method = r.method;
    h.target = "/ccache/ab/cd";
    if (!r.authorization.empty()) h.headers.emplace_back("authorization", r.authorization);
    auto got = decide(h, auth);
    CHECK(got.status == r.status);
    CHECK(got.challenge == (r.status == 401));
  }
  request_head status;
  status.method = "GET";
  status.target = "/status";
  CHECK(decide(status, auth).what == action::status);
  status.target = "/metrics";
  CHECK(decide(status, auth).status == 401);
  auth.anonymous_read = true;
  request_head get;
  get.method = "GET";
  get.target = "/k";
  CHECK(decide(get, auth).what == action::get);
  get.method = "PUT";
  CHECK(decide(get, auth).status == 401);
}

TEST_CASE("base64 encodes as RFC 4648 says") {
  const std::vector<std::pair<std::string, std::string>> rows = {{"", ""},
                                                                 {"f", "Zg=="},
                                                                 {"fo", "Zm8="},
                                                                 {"foo", "Zm9v"},
                                                                 {"foob", "Zm9vYg=="},
                                                                 {"fooba", "Zm9vYmE="},
                                                                 {"foobar", "Zm9vYmFy"}};
  for (const auto& [in, out] : rows)
    CHECK(base64(in) == out);
}

TEST_CASE("prometheus writer: families, escaped labels, cumulative histogram") {
  using larder::prometheus::writer;
  writer w;
  w.family("x_total", writer::type::counter, "a\\b\nc");
  w.sample("x_total", {{"path", "a\"b\\c\nd"}}, std::uint64_t{3});
  const double bounds[] = {0.5, 1};
  const std::uint64_t counts[] = {1, 2};
  w.histogram("lat_seconds", "latency", bounds, counts, 3, 2.25);
  CHECK(w.text() ==
        "# HELP x_total a\\\\b\\nc\n# TYPE x_total counter\n"
        "x_total{path=\"a\\\"b\\\\c\\nd\"} 3\n"
        "# HELP lat_seconds latency\n# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{le=\"0.5\"} 1\nlat_seconds_bucket{le=\"1\"} 2\n"
        "lat_seconds_bucket{le=\"+Inf\"} 3\nlat_seconds_sum 2.25\nlat_seconds_count 3\n");
}
