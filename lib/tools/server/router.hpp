// router: what larder-server does with a request head. Sans-I/O: methods, paths, credentials
// and limits in, an action (or the status to refuse with) out; tested with tables of heads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/server/request_reader.hpp"

namespace larder::server {

enum class access { none, read, read_write };

/// Who may do what. No credential configured: everyone may read and write (the server binds
/// to 127.0.0.1 unless told otherwise). Otherwise a request without a known credential gets
/// 401, and a read-only credential that writes gets 403.
struct auth_policy {
  std::vector<std::string> read_only_basic;   ///< "user:password"
  std::vector<std::string> read_write_basic;  ///< "user:password"
  std::vector<std::string> read_only_tokens;  ///< bearer tokens
  std::vector<std::string> read_write_tokens;
  /// When set, reads need no credential (writes still do).
  bool anonymous_read = false;

  bool enabled() const noexcept {
    return !read_only_basic.empty() || !read_write_basic.empty() || !read_only_tokens.empty() ||
           !read_write_tokens.empty();
  }
  /// What the Authorization header's value grants.
  access grant(std::string_view authorization) const;
};

enum class action {
  refuse,   ///< answer `status` with `reason`, nothing else
  get,      ///< GET of a cached entry
  head,     ///< HEAD of a cached entry
  put,      ///< PUT of a cached entry (verify SHA-256 when `verify_sha256`)
  erase,    ///< DELETE of a cached entry
  metrics,  ///< GET /metrics
  status,   ///< GET /status
};

/// The protocol a cache path follows, for metrics.
enum class protocol { none, ccache, bazel_ac, bazel_cas };

struct route {
  action what = action::refuse;
  protocol proto = protocol::none;
  int status = 0;          ///< for refuse
  std::string reason{};    ///< for refuse: the body text
  std::string key{};       ///< the store key: the path, so nothing names a file directly
  std::string sha256{};    ///< lower-case hex expected of a CAS body (for put)
  bool challenge = false;  ///< a 401 that carries WWW-Authenticate
};

/// The route of one request head. Checks, in order: the target's form (origin form, no NUL,
/// no query or fragment needed), the method, credentials, and the CAS name's form.
route decide(const request_head& head, const auth_policy& auth);

/// Base64 (RFC 4648, with padding) of `bytes`: basic credentials are compared encoded.
std::string base64(std::string_view bytes);

}  // namespace larder::server
