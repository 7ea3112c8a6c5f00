// response: one HTTP/1.1 response, its head formatted here and its body a blob (a hit's
// bytes go out without a copy).
#pragma once

#include <string>
#include <string_view>

#include "larder/blob.hpp"

namespace larder::server {

std::string_view reason_phrase(int status);

struct response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  blob body{};
  std::string extra{};  ///< further header lines, each ending in CRLF
  bool close = false;   ///< send Connection: close and close after it

  static response text(int status, std::string text) {
    response r;
    r.status = status;
    if (!text.empty() && text.back() != '\n') text += '\n';
    if (status != 204) r.body = blob(std::move(text));
    return r;
  }

  /// The status line and headers. A HEAD answer states the length the GET would send.
  std::string head(bool head_only) const;
};

}  // namespace larder::server
