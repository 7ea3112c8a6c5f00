#include "stores/redis/reply.hpp"

#include <charconv>

namespace larder::redis {

reply reply::from(const redisReply& r) {
  reply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = kind::string;
      out.bytes = blob::copy_of(std::string_view(r.str, r.len));
      break;
    case REDIS_REPLY_STATUS:
      out.type = kind::status;
      out.bytes = blob::copy_of(std::string_view(r.str, r.len));
      break;
    case REDIS_REPLY_ERROR:
      out.type = kind::error;
      out.bytes = blob::copy_of(std::string_view(r.str, r.len));
      break;
    case REDIS_REPLY_INTEGER:
      out.type = kind::integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = kind::array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i)
        out.elements.push_back(r.element[i] ? from(*r.element[i]) : reply{});
      break;
    default:
      out.type = kind::nil;
  }
  return out;
}

long long reply::integer_at(std::size_t i, long long fallback) const noexcept {
  if (type != kind::array || i >= elements.size() || elements[i].type != kind::integer)
    return fallback;
  return elements[i].integer;
}

command::command(std::size_t arguments, std::size_t reserve) {
  text_.reserve(reserve + 16 * arguments);
  length(arguments, '*');
}

void command::length(std::size_t n, char tag) {
  char digits[24];
  digits[0] = tag;
  auto [end, ec] = std::to_chars(digits + 1, digits + sizeof digits - 2, n);
  (void)ec;
  *end++ = '\r';
  *end++ = '\n';
  text_.append(digits, static_cast<std::size_t>(end - digits));
}

command& command::arg(std::string_view bytes) {
  length(bytes.size(), '$');
  text_.append(bytes);
  text_.append("\r\n", 2);
  return *this;
}

command& command::arg(std::string_view head, std::string_view tail) {
  length(head.size() + tail.size(), '$');
  text_.append(head);
  text_.append(tail);
  text_.append("\r\n", 2);
  return *this;
}

}  // namespace larder::redis
