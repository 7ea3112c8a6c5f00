#include "stores/redis/tls.hpp"

#include <system_error>

#include "larder/error.hpp"

namespace larder::redis {
namespace {

[[noreturn]] void refuse(const std::string& why) {
  throw std::system_error(make_error_code(errc::invalid_argument), "redis tls: " + why);
}

}  // namespace

#if LARDER_REDIS_TLS

std::shared_ptr<tls_context> make_tls_context(const redis_tls_options& options) {
  asio::ssl::context c(asio::ssl::context::tls_client);
  c.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                asio::ssl::context::no_tlsv1_1);
  std::error_code ec;
  if (options.ca_file.empty())
    c.set_default_verify_paths(ec);
  else
    c.load_verify_file(options.ca_file, ec);
  if (ec) refuse("ca_file '" + options.ca_file + "': " + ec.message());
  if (options.cert_file.empty() != options.key_file.empty())
    refuse("cert_file and key_file go together (one of them is empty)");
  if (!options.cert_file.empty()) {
    c.use_certificate_chain_file(options.cert_file, ec);
    if (ec) refuse("cert_file '" + options.cert_file + "': " + ec.message());
    c.use_private_key_file(options.key_file, asio::ssl::context::pem, ec);
    if (ec) refuse("key_file '" + options.key_file + "': " + ec.message());
  }
  c.set_verify_mode(options.verify ? asio::ssl::verify_peer : asio::ssl::verify_none);
  return std::make_shared<tls_context>(std::move(c));
}

#else

std::shared_ptr<tls_context> make_tls_context(const redis_tls_options&) {
  refuse("this build of larder has no TLS (configure with -Dredis_tls=enabled and OpenSSL)");
}

#endif

}  // namespace larder::redis
