// request_reader: HTTP/1.1 requests out of a byte stream, through http-parser (Debian's
// libhttp-parser, the nodejs parser). Sans-I/O: the connection feeds the bytes it read and
// acts on the events; no socket, no clock here, so tests drive it with tables of inputs.
#pragma once

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace larder::server {

struct reader_limits {
  std::size_t max_target = 8 * 1024;         ///< longer request targets: 414
  std::size_t max_header_bytes = 64 * 1024;  ///< request line + headers; past it: 431
  std::size_t max_headers = 100;             ///< more header fields: 431
  std::uint64_t max_body = 64ull << 20;      ///< larger bodies (declared or received): 413
};

/// What the head of one request said.
struct request_head {
  std::string method;  ///< "GET", "PUT", ...
  std::string target;  ///< the request target as sent ("/ccache/ab/cd...")
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lower-cased
  std::uint64_t content_length = 0;
  bool has_content_length = false;
  bool chunked = false;
  bool keep_alive = true;  ///< false: answer with Connection: close, then close
  bool expect_continue = false;
  unsigned http_minor = 1;

  /// The first header of that (lower-case) name, or empty.
  std::string_view header(std::string_view lower_name) const noexcept;
};

/// One request at a time: feed() stops after the head when a body follows (headers_done:
/// decide, send 100 Continue) and again after the
/// whole message (message_done), so pipelined requests wait in the caller's buffer until the
/// previous response went out. After an error the framing is lost: answer `error_status` and
/// close the connection.
class request_reader {
 public:
  enum class event { need_more, headers_done, message_done, error };
  struct step {
    std::size_t consumed = 0;  ///< bytes of the input used; feed the rest again
    event what = event::need_more;
  };

  explicit request_reader(reader_limits limits = {});
  request_reader(const request_reader&) = delete;
  request_reader& operator=(const request_reader&) = delete;

  step feed(const char* data, std::size_t size);
  /// The peer closed its side: an error unless no request was under way.
  step finish();
  /// After message_done: start on the next request (keeps nothing of this one).
  void next();

  const request_head& head() const noexcept { return head_; }
  /// The body received so far (all of it after message_done).
  const std::string& body() const noexcept { return body_; }
  std::string take_body() noexcept { return std::move(body_); }
  /// True while a request has begun but not completed (some bytes of it arrived).
  bool in_request() const noexcept { return started_ && !complete_; }

  /// After event::error: the status to answer (400, 413, 414, 431, 501, 505) and why.
  int error_status() const noexcept { return error_status_; }
  const std::string& error_reason() const noexcept { return error_reason_; }

 private:
  static int on_message_begin(http_parser* p);
  static int on_url(http_parser* p, const char* at, std::size_t n);
  static int on_header_field(http_parser* p, const char* at, std::size_t n);
  static int on_header_value(http_parser* p, const char* at, std::size_t n);
  static int on_headers_complete(http_parser* p);
  static int on_body(http_parser* p, const char* at, std::size_t n);
  static int on_message_complete(http_parser* p);
  int fail(int status, std::string reason);
  bool count_header_bytes(std::size_t n);

  reader_limits limits_;
  http_parser parser_{};
  http_parser_settings settings_{};
  request_head head_;
  std::string body_;
  std::size_t header_bytes_ = 0;
  bool in_value_ = false;
  bool started_ = false;
  bool headers_seen_ = false;
  bool complete_ = false;
  event pending_ = event::need_more;
  int error_status_ = 0;
  std::string error_reason_;
};

}  // namespace larder::server
