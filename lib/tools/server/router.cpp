#include "tools/server/router.hpp"

#include <algorithm>
#include <cctype>

namespace larder::server {

std::string base64(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                 (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

// Compares without stopping at the first difference, so the time taken does not tell an
// attacker how much of a guessed secret was right.
bool same_secret(std::string_view a, std::string_view b) {
  unsigned diff = a.size() == b.size() ? 0 : 1;
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

bool any_matches(const std::vector<std::string>& list, std::string_view candidate, bool encode) {
  bool found = false;
  for (const auto& secret : list) {
    found |= same_secret(encode ? base64(secret) : secret, candidate);
  }
  return found;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool is_sha256_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

route refuse(int status, std::string reason) {
  route r;
  r.status = status;
  r.reason = std::move(reason);
  return r;
}

}  // namespace

access auth_policy::grant(std::string_view authorization) const {
  authorization = trim(authorization);
  if (starts_with_ci(authorization, "basic ")) {
    auto credential = trim(authorization.substr(6));
    if (any_matches(read_write_basic, credential, true)) return access::read_write;
    if (any_matches(read_only_basic, credential, true)) return access::read;
    return access::none;
  }
  if (starts_with_ci(authorization, "bearer ")) {
    auto token = trim(authorization.substr(7));
    if (any_matches(read_write_tokens, token, false)) return access::read_write;
    if (any_matches(read_only_tokens, token, false)) return access::read;
  }
  return access::none;
}

route decide(const request_head& head, const auth_policy& auth) {
  std::string_view target = head.target;
  // Origin form only: "/path". An absolute URL or '*' names no cache entry here.
  if (target.empty() || target.front() != '/') {
    return refuse(400, "request target must be a path starting with '/'");
  }
  if (target.find('\0') != std::string_view::npos) {
    return refuse(400, "request target contains a NUL byte");
  }
  // A query or fragment is not part of the key (no client here sends one).
  if (auto q = target.find_first_of("?#"); q != std::string_view::npos) {
    target = target.substr(0, q);
  }

  const std::string& m = head.method;
  bool reads = m == "GET" || m == "HEAD";
  bool writes = m == "PUT" || m == "DELETE";
  if (!reads && !writes) {
    return refuse(405, "method " + m + " is not served (GET, HEAD, PUT, DELETE are)");
  }

  if (target == "/metrics" || target == "/status") {
    if (!reads) return refuse(405, "method " + m + " is not served on " + std::string(target));
    route r;
    r.what = target == "/metrics" ? action::metrics : action::status;
    if (r.what == action::status || !auth.enabled() || auth.anonymous_read) return r;
    // /metrics is a read like any other when credentials are configured.
  }

  if (auth.enabled()) {
    access granted = auth.grant(head.header("authorization"));
    if (granted == access::none && !(reads && auth.anonymous_read)) {
      route r = refuse(401, head.header("authorization").empty() ? "credentials required"
                                                                 : "credentials not accepted");
      r.challenge = true;
      return r;
    }
    if (writes && granted != access::read_write) {
      return refuse(403, "these credentials may only read");
    }
  }
  if (target == "/metrics") {
    route r;
    r.what = action::metrics;
    return r;
  }

  // Every other path is a cache entry. The last segment is the entry's name; a path that
  // ends in '/' names a directory, which is no entry.
  auto last_slash = target.rfind('/');
  std::string_view name = target.substr(last_slash + 1);
  if (name.empty()) return refuse(404, "no cache entry is named by a path ending in '/'");
  std::string_view parent = target.substr(0, last_slash);
  std::string_view parent_name = parent.substr(parent.rfind('/') + 1);

  route r;
  r.key = std::string(target);
  r.proto = protocol::ccache;
  if (parent_name == "ac" || parent_name == "cas") {
    // The Bazel HTTP cache: /[prefix/]ac/<sha256> and /[prefix/]cas/<sha256>.
    bool cas = parent_name == "cas";
    r.proto = cas ? protocol::bazel_cas : protocol::bazel_ac;
    if (!is_sha256_hex(name)) {
      return refuse(400, std::string(cas ? "CAS" : "AC") +
                             " entries are named by 64 lower-case hex digits (a SHA-256)");
    }
    if (cas && m == "PUT") r.sha256 = std::string(name);
  }
  if (m == "GET") r.what = action::get;
  if (m == "HEAD") r.what = action::head;
  if (m == "PUT") r.what = action::put;
  if (m == "DELETE") r.what = action::erase;
  return r;
}

}  // namespace larder::server
