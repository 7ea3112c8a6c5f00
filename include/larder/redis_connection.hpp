// redis_connection: where a Redis server is and how to log in, shared by redis_store and
// invalidation_bus, set field by field or from one URL.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace larder {

/// TLS to the server (rediss://). Verification is on by default: the server's chain
/// must lead to a trusted CA and its certificate must name `server_name` (or the host).
struct redis_tls_options {
  bool enabled = false;
  /// PEM file of the CAs to trust; empty: the system's default trust store.
  std::string ca_file{};
  /// A client certificate and its private key (PEM), for servers that ask for one
  /// (redis-server's tls-auth-clients, on by default).
  std::string cert_file{};
  std::string key_file{};
  /// Sent as SNI and checked against the certificate; empty: the host.
  std::string server_name{};
  /// Off only for tests against throw-away certificates: no chain or name check.
  bool verify = true;
};

/// How to reach one Redis server. Either `url` or the fields below: a non-empty url is
/// parsed when the store or bus is constructed and replaces host, port, unix_path,
/// user, password, db and tls.enabled (the other TLS files stay as set here).
struct redis_connection_options {
  /// redis://[user[:password]@]host[:port][/db], rediss://... (TLS), or
  /// unix:///absolute/path.sock[?db=N]; see parse_redis_url.
  std::string url{};
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  /// Non-empty: a unix domain socket path, used instead of host and port.
  std::string unix_path{};
  /// AUTH at connect: `AUTH user password` with a user (Redis 6 ACL), `AUTH password`
  /// with only a password (the default user, requirepass). Nothing when both are empty.
  std::string user{};
  std::string password{};
  /// SELECT at connect when not 0.
  unsigned db = 0;
  redis_tls_options tls{};
  /// A connection refused at setup (wrong password, missing ACL permission, an eviction
  /// policy the store cannot survive) is retried after a delay that starts at the
  /// store's backoff_max and doubles up to this.
  std::chrono::milliseconds setup_backoff_max{30'000};
  /// Called with the full text of an error (step, server, the server's answer) when it
  /// differs from the previous one, so a misconfiguration is reported once rather than
  /// once per retry. Any thread; must not block.
  std::function<void(std::string_view)> on_error{};
};

/// The outcome of parse_redis_url: the connection, or a message naming what is wrong.
struct redis_url_parse {
  std::optional<redis_connection_options> connection;
  std::string error;
  explicit operator bool() const noexcept { return connection.has_value(); }
};

/// Parses a Redis URL into connection fields (the rest keep their defaults):
///   redis://[user[:password]@]host[:port][/db]    TCP; port 6379, db 0 by default
///   rediss://...                                  the same over TLS
///   unix:///path/to.sock[?db=N]                   a unix domain socket
/// Every form also takes ?db=N, ?user=U and ?password=P query parameters. user and
/// password are percent-decoded; an IPv6 host is written in brackets ([::1]:6379).
redis_url_parse parse_redis_url(std::string_view url);

/// Replaces `options`' connection fields with the URL's when options.url is not empty;
/// throws std::system_error(errc::invalid_argument) whose what() names the problem.
void apply_redis_url(redis_connection_options& options);

/// "host:port", "[v6]:port" or "unix:/path", with " (tls)" over TLS: how errors name a
/// server.
std::string describe_endpoint(const redis_connection_options& options);

}  // namespace larder
