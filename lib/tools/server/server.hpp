// server: larder-server's HTTP/1.1 listener and connections on Asio coroutines, in front of a
// layered store. What each request means is decided by the sans-I/O router; the bytes are
// framed by the sans-I/O request_reader; this file moves bytes, applies timeouts and drains.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "larder/layered_store.hpp"
#include "tools/server/request_reader.hpp"
#include "tools/server/router.hpp"
#include "tools/server/server_metrics.hpp"

namespace larder::server {

struct server_options {
  asio::ip::tcp::endpoint listen{asio::ip::make_address("127.0.0.1"), 8080};
  reader_limits limits{};
  /// Between requests: a connection that sends nothing for this long is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  /// Inside a request: no byte for this long closes the connection (408 when possible).
  std::chrono::milliseconds read_timeout{std::chrono::seconds(30)};
  /// A response not written within this long closes the connection.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(30)};
  /// How long SIGTERM waits for requests in flight before it closes their connections.
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};
  /// Durability: flush the store every N seconds (0: only at shutdown) ...
  unsigned flush_every_secs = 0;
  /// ... and after every N stored puts (0: not by count).
  unsigned flush_every_puts = 0;
  std::size_t max_connections = 4096;
  /// Upload bytes all connections together may hold in memory (declared Content-Length, or
  /// received so far when chunked); a request that would pass it gets 503 and a close.
  std::uint64_t max_upload_memory = 1ull << 30;
  auth_policy auth{};
  bool access_log = false;  ///< one line per request on stderr
};

/// One server on one io_context thread. Construct, co_await run(); stop() (from the same
/// thread, for example a signal handler's completion) begins the graceful shutdown: no new
/// connections, idle ones closed, requests in flight finished, then the store flushed; run()
/// completes after that flush. The store must outlive the server.
class http_server {
 public:
  http_server(asio::io_context& io, layered_store& store, server_options options);
  ~http_server();
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds (throws std::system_error naming the address when it cannot) and returns the
  /// port bound (useful with port 0).
  unsigned short bind();
  /// Accepts until stop(), drains, flushes. Completes with the final flush's error, if any.
  asio::awaitable<std::error_code> run();
  void stop();

  const server_metrics& metrics() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace larder::server
