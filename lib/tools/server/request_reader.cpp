#include "tools/server/request_reader.hpp"

#include <algorithm>
#include <cctype>

namespace larder::server {

std::string_view request_head::header(std::string_view lower_name) const noexcept {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

namespace {
request_reader& self(http_parser* p) {
  return *static_cast<request_reader*>(p->data);
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

request_reader::request_reader(reader_limits limits) : limits_(limits) {
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &on_message_begin;
  settings_.on_url = &on_url;
  settings_.on_header_field = &on_header_field;
  settings_.on_header_value = &on_header_value;
  settings_.on_headers_complete = &on_headers_complete;
  settings_.on_body = &on_body;
  settings_.on_message_complete = &on_message_complete;
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

int request_reader::fail(int status, std::string reason) {
  if (error_status_ == 0) {
    error_status_ = status;
    error_reason_ = std::move(reason);
  }
  return -1;  // stops the parser (HPE_CB_*); the connection is closed after the answer
}

bool request_reader::count_header_bytes(std::size_t n) {
  header_bytes_ += n;
  return header_bytes_ <= limits_.max_header_bytes;
}

int request_reader::on_message_begin(http_parser* p) {
  auto& r = self(p);
  r.started_ = true;
  return 0;
}

int request_reader::on_url(http_parser* p, const char* at, std::size_t n) {
  auto& r = self(p);
  r.started_ = true;
  if (r.head_.target.size() + n > r.limits_.max_target) {
    return r.fail(414,
                  "request target longer than " + std::to_string(r.limits_.max_target) + " bytes");
  }
  if (!r.count_header_bytes(n)) {
    return r.fail(
        431, "request head larger than " + std::to_string(r.limits_.max_header_bytes) + " bytes");
  }
  r.head_.target.append(at, n);
  return 0;
}

int request_reader::on_header_field(http_parser* p, const char* at, std::size_t n) {
  auto& r = self(p);
  if (!r.count_header_bytes(n)) {
    return r.fail(
        431, "request head larger than " + std::to_string(r.limits_.max_header_bytes) + " bytes");
  }
  // The parser may deliver one name in several pieces; a new name starts after a value.
  if (r.head_.headers.empty() || r.in_value_) {
    if (r.head_.headers.size() >= r.limits_.max_headers) {
      return r.fail(431, "more than " + std::to_string(r.limits_.max_headers) + " header fields");
    }
    r.head_.headers.emplace_back();
    r.in_value_ = false;
  }
  auto& name = r.head_.headers.back().first;
  for (std::size_t i = 0; i < n; ++i) {
    name += static_cast<char>(std::tolower(static_cast<unsigned char>(at[i])));
  }
  return 0;
}

int request_reader::on_header_value(http_parser* p, const char* at, std::size_t n) {
  auto& r = self(p);
  if (!r.count_header_bytes(n)) {
    return r.fail(
        431, "request head larger than " + std::to_string(r.limits_.max_header_bytes) + " bytes");
  }
  r.in_value_ = true;
  if (r.head_.headers.empty()) return r.fail(400, "header value without a name");
  r.head_.headers.back().second.append(at, n);
  return 0;
}

int request_reader::on_headers_complete(http_parser* p) {
  auto& r = self(p);
  auto& h = r.head_;
  h.method = http_method_str(static_cast<http_method>(p->method));
  h.http_minor = p->http_minor;
  h.keep_alive = http_should_keep_alive(p) != 0;
  h.chunked = (p->flags & F_CHUNKED) != 0;
  h.has_content_length = !h.header("content-length").empty();
  h.content_length = h.has_content_length ? p->content_length : 0;
  h.expect_continue = iequals(h.header("expect"), "100-continue");
  if (p->http_major != 1) return r.fail(505, "only HTTP/1.x is served");
  if (p->upgrade && p->method != HTTP_CONNECT) {
    // An Upgrade request is served as plain HTTP/1.1 (the header is ignored).
  }
  if (p->method == HTTP_CONNECT) return r.fail(501, "CONNECT is not served");
  if (h.has_content_length && h.content_length > r.limits_.max_body) {
    return r.fail(413, "request body of " + std::to_string(h.content_length) +
                           " bytes exceeds the limit of " + std::to_string(r.limits_.max_body));
  }
  r.headers_seen_ = true;
  // Pause only when a body follows: a request without one completes in the same feed, and
  // the caller sees message_done (with the head) without having to read more bytes.
  if (h.chunked || h.content_length > 0) {
    r.pending_ = event::headers_done;
    http_parser_pause(p, 1);
  }
  return 0;
}

int request_reader::on_body(http_parser* p, const char* at, std::size_t n) {
  auto& r = self(p);
  if (r.body_.size() + n > r.limits_.max_body) {
    return r.fail(
        413, "request body exceeds the limit of " + std::to_string(r.limits_.max_body) + " bytes");
  }
  r.body_.append(at, n);
  return 0;
}

int request_reader::on_message_complete(http_parser* p) {
  auto& r = self(p);
  r.complete_ = true;
  r.pending_ = event::message_done;
  http_parser_pause(p, 1);
  return 0;
}

request_reader::step request_reader::feed(const char* data, std::size_t size) {
  if (error_status_ != 0) return {0, event::error};
  if (complete_) return {0, event::message_done};
  pending_ = event::need_more;
  // http-parser reads an empty input as the end of the stream: that is finish()'s job.
  if (size == 0) return {0, event::need_more};
  std::size_t used = http_parser_execute(&parser_, &settings_, data, size);
  auto err = HTTP_PARSER_ERRNO(&parser_);
  if (err == HPE_PAUSED) {
    http_parser_pause(&parser_, 0);
    return {used, pending_};
  }
  if (err != HPE_OK) {
    if (error_status_ == 0) {
      int status = err == HPE_HEADER_OVERFLOW ? 431 : 400;
      fail(status, std::string("malformed request: ") + http_errno_description(err));
    }
    return {used, event::error};
  }
  // Paused from the last callback of this input leaves errno OK in some paths: pending_ says.
  return {used, pending_};
}

request_reader::step request_reader::finish() {
  if (!started_ || complete_) return {0, event::need_more};
  // A body without a length ends with the stream; requests always frame theirs, so any
  // request still open here is cut short.
  fail(400, headers_seen_ ? "connection closed before the request body was complete"
                          : "connection closed inside a request head");
  return {0, event::error};
}

void request_reader::next() {
  head_ = request_head{};
  body_.clear();
  header_bytes_ = 0;
  in_value_ = false;
  started_ = false;
  headers_seen_ = false;
  complete_ = false;
  pending_ = event::need_more;
}

}  // namespace larder::server
