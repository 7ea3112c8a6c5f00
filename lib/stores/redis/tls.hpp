// The TLS side of a Redis connection: one OpenSSL context per store or bus (its CA,
// client certificate and key loaded once), and a stream type that is a TLS stream when
// larder was built with OpenSSL (meson option redis_tls) and absent otherwise.
#pragma once

#include <memory>

#include "larder/redis_connection.hpp"

#ifndef LARDER_REDIS_TLS
#define LARDER_REDIS_TLS 0
#endif
#if LARDER_REDIS_TLS
#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>
#endif

namespace larder::redis {

struct tls_context {
#if LARDER_REDIS_TLS
  explicit tls_context(asio::ssl::context c) : context(std::move(c)) {}
  asio::ssl::context context;
#endif
};

inline constexpr bool tls_built = LARDER_REDIS_TLS != 0;

// Loads the options' files; throws std::system_error(errc::invalid_argument) naming the
// file and OpenSSL's reason, or saying that this build has no TLS.
std::shared_ptr<tls_context> make_tls_context(const redis_tls_options& options);

}  // namespace larder::redis
