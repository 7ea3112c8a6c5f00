// larder-server: a shared HTTP build cache (ccache's HTTP remote storage, the Bazel HTTP
// cache) in front of memory over the disk tier. Runs in the foreground until SIGTERM.
//   larder-server --listen 127.0.0.1:8080 --dir /var/cache/larder-server
#include <CLI/CLI.hpp>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <cstdio>
#include <fstream>
#include <optional>

#include "larder/disk_store.hpp"
#include "larder/open_default.hpp"
#include "tools/cli/common.hpp"
#include "tools/server/server.hpp"
#include "tools/server/store_stack.hpp"

namespace {

using larder::server::server_options;

// "HOST:PORT", "[v6]:PORT" or ":PORT" (127.0.0.1).
std::optional<asio::ip::tcp::endpoint> parse_listen(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "127.0.0.1";
  std::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec || port.empty() || port.size() > 5) return std::nullopt;
  unsigned long number = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    number = number * 10 + static_cast<unsigned>(c - '0');
  }
  if (number > 65535) return std::nullopt;
  return asio::ip::tcp::endpoint(address, static_cast<unsigned short>(number));
}

// Lines "ro|rw basic USER:PASSWORD" or "ro|rw bearer TOKEN"; '#' starts a comment.
bool read_auth_file(const std::string& path, larder::server::auth_policy& auth) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "larder-server: cannot read the auth file %s\n", path.c_str());
    return false;
  }
  std::string mode, kind, secret;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    fields >> mode >> kind >> secret;
    bool rw = mode == "rw";
    if ((mode != "ro" && !rw) || (kind != "basic" && kind != "bearer") || secret.empty()) {
      std::fprintf(stderr, "larder-server: %s:%d: expected 'ro|rw basic|bearer SECRET'\n",
                   path.c_str(), number);
      return false;
    }
    auto& list = kind == "basic" ? (rw ? auth.read_write_basic : auth.read_only_basic)
                                 : (rw ? auth.read_write_tokens : auth.read_only_tokens);
    list.push_back(secret);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"larder-server: a shared HTTP build cache for ccache and Bazel"};
  app.set_config("--config", "", "Read options from this TOML/INI file (option = value)");
  std::string listen = "127.0.0.1:8080";
  std::string dir;
  std::string memory_size = "256M", disk_size = "8G", max_body = "64M", upload_memory = "1G";
  std::string port_file, auth_file, redis_url;
  std::size_t max_header_bytes = 64 * 1024;
  unsigned idle_secs = 60, read_secs = 30, write_secs = 30, drain_secs = 30;
  server_options options;
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--dir", dir, "Cache directory (default: $XDG_CACHE_HOME/larder)");
  app.add_option("--memory-size", memory_size, "Memory tier budget")->capture_default_str();
  app.add_option("--max-size", disk_size, "Disk tier capacity; older entries are evicted")
      ->capture_default_str();
  app.add_option("--max-body", max_body, "Largest upload accepted (413 beyond)")
      ->capture_default_str();
  app.add_option("--max-upload-memory", upload_memory,
                 "Upload bytes all connections may hold at once (503 beyond)")
      ->capture_default_str();
  app.add_option("--max-header-bytes", max_header_bytes, "Largest request head (431 beyond)")
      ->capture_default_str();
  app.add_option("--idle-timeout-secs", idle_secs, "Close connections idle this long")
      ->capture_default_str();
  app.add_option("--read-timeout-secs", read_secs, "Inside a request, 408 after this silence")
      ->capture_default_str();
  app.add_option("--write-timeout-secs", write_secs, "Close when a response stalls this long")
      ->capture_default_str();
  app.add_option("--drain-timeout-secs", drain_secs, "SIGTERM waits this long for requests")
      ->capture_default_str();
  app.add_option("--flush-every-secs", options.flush_every_secs,
                 "Durability: flush the store every N seconds (0: at shutdown only)");
  app.add_option("--flush-every-puts", options.flush_every_puts,
                 "Durability: flush after every N stored uploads (0: off)");
  app.add_option("--max-connections", options.max_connections, "Connections served at once")
      ->capture_default_str();
  app.add_option("--read-only-user", options.auth.read_only_basic, "USER:PASSWORD (may read)");
  app.add_option("--read-write-user", options.auth.read_write_basic,
                 "USER:PASSWORD (may read and write)");
  app.add_option("--read-only-token", options.auth.read_only_tokens, "Bearer token (may read)");
  app.add_option("--read-write-token", options.auth.read_write_tokens,
                 "Bearer token (may read and write)");
  app.add_option("--auth-file", auth_file,
                 "Credentials, one per line: 'ro|rw basic USER:PASSWORD' or 'ro|rw bearer TOKEN'");
  app.add_flag("--anonymous-read", options.auth.anonymous_read,
               "With credentials configured, let anyone read (writes still need them)");
  app.add_flag("--access-log", options.access_log, "One line per request on stderr");
  app.add_option("--redis", redis_url,
                 "Also keep entries in this Redis (redis://[user:pw@]host:port[/db], rediss://, "
                 "unix://), under memory and disk: the tier servers share");
  app.add_option("--port-file", port_file, "Write the bound port to this file once listening");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  auto endpoint = parse_listen(listen);
  if (!endpoint) {
    std::fprintf(stderr, "larder-server: --listen %s is not HOST:PORT\n", listen.c_str());
    return 2;
  }
  options.listen = *endpoint;
  auto memory_bytes = larder::cli::parse_size(memory_size);
  auto disk_bytes = larder::cli::parse_size(disk_size);
  auto body_bytes = larder::cli::parse_size(max_body);
  auto upload_bytes = larder::cli::parse_size(upload_memory);
  if (!memory_bytes || !disk_bytes || !body_bytes || !upload_bytes) {
    std::fprintf(
        stderr,
        "larder-server: a size (--memory-size, --max-size, --max-body, --max-upload-memory) "
        "is not a size like 512M or 8G\n");
    return 2;
  }
  if (!auth_file.empty() && !read_auth_file(auth_file, options.auth)) return 2;
  options.limits.max_body = *body_bytes;
  options.max_upload_memory = *upload_bytes;
  options.limits.max_header_bytes = max_header_bytes;
  options.idle_timeout = std::chrono::seconds(idle_secs);
  options.read_timeout = std::chrono::seconds(read_secs);
  options.write_timeout = std::chrono::seconds(write_secs);
  options.drain_timeout = std::chrono::seconds(drain_secs);

  asio::io_context io;
  larder::default_cache_options cache;
  cache.root = dir;
  cache.memory_bytes = *memory_bytes;
  cache.disk_bytes = *disk_bytes;
  cache.max_value_size = static_cast<std::size_t>(*body_bytes);
  std::unique_ptr<larder::layered_store> store;
  std::unique_ptr<larder::server::http_server> server;
  int code = 0;
  asio::signal_set signals(io, SIGTERM, SIGINT);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        larder::result<std::unique_ptr<larder::layered_store>> opened =
            larder::make_error_code(larder::errc::invalid_argument);
        try {
          opened = co_await larder::server::open_store_stack(io, cache, redis_url);
        } catch (const std::system_error& e) {
          std::fprintf(stderr, "larder-server: --redis %s: %s\n", redis_url.c_str(), e.what());
          code = 2;
          io.stop();
          co_return;
        }
        if (!opened) {
          std::fprintf(stderr, "larder-server: cannot open the cache directory %s: %s\n",
                       dir.empty() ? "(default)" : dir.c_str(), opened.error().message().c_str());
          code = 1;
          io.stop();
          co_return;
        }
        store = std::move(*opened);
        server = std::make_unique<larder::server::http_server>(io, *store, options);
        unsigned short port = 0;
        try {
          port = server->bind();
        } catch (const std::system_error& e) {
          std::fprintf(stderr, "larder-server: %s\n", e.what());
          code = 1;
          io.stop();
          co_return;
        }
        std::fprintf(stderr, "larder-server: listening on %s:%u, cache in %s\n",
                     options.listen.address().to_string().c_str(), port,
                     dir.empty() ? "(default root)" : dir.c_str());
        if (!port_file.empty()) {
          std::string tmp = port_file + ".tmp";
          std::FILE* f = std::fopen(tmp.c_str(), "w");
          if (f) {
            std::fprintf(f, "%u\n", port);
            std::fclose(f);
            std::rename(tmp.c_str(), port_file.c_str());
          }
        }
        signals.async_wait([&](const std::error_code& ec, int) {
          if (!ec) {
            std::fprintf(stderr, "larder-server: stopping (draining, then flushing)\n");
            server->stop();
          }
        });
        std::error_code ec = co_await server->run();
        if (ec) code = 1;
        // Drained and flushed: the disk tier's index is saved, so that the next start has it
        // at once instead of reading every file. Not saving costs only that.
        for (std::size_t i = 0; !ec && i < store->tier_count(); ++i)
          if (auto* disk = store->tier(i).target<larder::disk_store>())
            if (const auto saved = co_await disk->save_index())
              std::fprintf(stderr,
                           "larder-server: the disk index was not saved (%s): the next start "
                           "reads every entry of %s\n",
                           saved.message().c_str(), disk->root().c_str());
        std::fprintf(stderr, "larder-server: stopped%s\n", ec ? " (the final flush failed)" : "");
        io.stop();
      },
      asio::detached);
  io.run();
  server.reset();
  store.reset();
  return code;
}
