// What a Redis command answered, detached from hiredis' reply object, and the RESP
// encoding of commands.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "larder/blob.hpp"

namespace larder::redis {

struct reply {
  enum class kind : unsigned char { nil, string, integer, array, status, error };
  kind type = kind::nil;
  std::error_code fault;  ///< set when no reply came (connection lost, timed out, shut down)
  blob bytes;             ///< string, status and error replies
  long long integer = 0;
  std::vector<reply> elements;

  static reply from(const redisReply& r);
  bool ok() const noexcept { return !fault && type != kind::error; }
  // An integer element of an array reply, or `fallback`.
  long long integer_at(std::size_t i, long long fallback = 0) const noexcept;
};

// A command in RESP form: "*<n>\r\n" then "$<len>\r\n<bytes>\r\n" per argument. hiredis
// copies it into its output buffer as is (redisAsyncFormattedCommand).
class command {
 public:
  explicit command(std::size_t arguments, std::size_t reserve = 64);
  command& arg(std::string_view bytes);
  // One argument made of two runs (a value's header and its bytes), without joining
  // them first.
  command& arg(std::string_view head, std::string_view tail);
  command& arg(long long number) { return arg(std::string_view(std::to_string(number))); }
  std::string take() { return std::move(text_); }

 private:
  void length(std::size_t n, char tag);
  std::string text_;
};

}  // namespace larder::redis
