#include "tools/server/server.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <cstdio>
#include <list>
#include <system_error>

#include "larder/error.hpp"
#include "tools/server/response.hpp"
#include "tools/server/sha256.hpp"

namespace larder::server {

namespace {
using asio::ip::tcp;
using clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

// One connection's socket and its deadline. The watchdog cancels the socket's operations
// when the deadline passes; the connection then answers 408 (inside a request) or closes.
struct conn_state {
  explicit conn_state(tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
  tcp::socket socket;
  asio::steady_timer timer;
  clock::time_point deadline = clock::time_point::max();
  bool idle = true;  ///< waiting for the first byte of a request
  bool timed_out = false;
  bool done = false;

  // A new deadline earlier than the one the watchdog waits for wakes it to wait again.
  void arm(clock::time_point when) {
    deadline = when;
    if (timer.expiry() > when) timer.cancel();
  }
};
}  // namespace

struct http_server::impl : std::enable_shared_from_this<impl> {
  impl(asio::io_context& io, layered_store& store, server_options options)
      : io_(io), store_(store), options_(std::move(options)), acceptor_(io), flush_timer_(io) {}

  asio::io_context& io_;
  layered_store& store_;
  server_options options_;
  tcp::acceptor acceptor_;
  asio::steady_timer flush_timer_;
  server_metrics metrics_;
  std::list<std::weak_ptr<conn_state>> connections_;
  bool stopping_ = false;
  std::uint64_t puts_since_flush_ = 0;
  bool flush_running_ = false;
  std::uint64_t upload_bytes_held_ = 0;  ///< reserved by uploads in flight

  // One connection's share of the upload budget: grows to `want`, or says no.
  struct upload_reservation {
    impl& owner;
    std::uint64_t held = 0;
    bool grow(std::uint64_t want) {
      if (want <= held) return true;
      std::uint64_t extra = want - held;
      if (owner.upload_bytes_held_ + extra > owner.options_.max_upload_memory) return false;
      owner.upload_bytes_held_ += extra;
      held = want;
      return true;
    }
    void release() {
      owner.upload_bytes_held_ -= held;
      held = 0;
    }
    ~upload_reservation() { release(); }
  };

  response over_budget() {
    ++metrics_.uploads_over_budget;
    response r =
        response::text(503, "uploads in flight hold " + std::to_string(upload_bytes_held_) +
                                " bytes; the limit (--max-upload-memory) is " +
                                std::to_string(options_.max_upload_memory) + ": retry later");
    r.extra += "Retry-After: 1\r\n";
    r.close = true;
    return r;
  }

  void log(const std::string& line) {
    if (options_.access_log) std::fprintf(stderr, "%s\n", line.c_str());
  }

  asio::awaitable<void> watchdog(std::shared_ptr<conn_state> st) {
    while (!st->done) {
      st->timer.expires_at(st->deadline);
      auto [ec] = co_await st->timer.async_wait(tuple_awaitable);
      (void)ec;
      if (st->done) break;
      if (clock::now() >= st->deadline) {
        st->timed_out = true;
        std::error_code ignored;
        st->socket.cancel(ignored);
        st->deadline = clock::time_point::max();
      }
    }
  }

  asio::awaitable<std::error_code> flush_store() {
    // One flush at a time: a policy flush that overlaps another waits for the next turn.
    if (flush_running_) co_return std::error_code{};
    flush_running_ = true;
    puts_since_flush_ = 0;
    std::error_code ec = co_await store_.flush();
    flush_running_ = false;
    ++metrics_.flushes;
    if (ec) {
      ++metrics_.flush_errors;
      std::fprintf(stderr, "larder-server: flush failed: %s\n", ec.message().c_str());
    }
    co_return ec;
  }

  asio::awaitable<void> periodic_flush() {
    while (!stopping_) {
      flush_timer_.expires_after(std::chrono::seconds(options_.flush_every_secs));
      auto [ec] = co_await flush_timer_.async_wait(tuple_awaitable);
      if (ec || stopping_) break;
      co_await flush_store();
    }
  }

  // Writes one response (head, then the body without a copy) under the write timeout.
  asio::awaitable<bool> send(conn_state& st, const response& r, bool head_only) {
    std::string head = r.head(head_only);
    st.arm(clock::now() + options_.write_timeout);
    std::array<asio::const_buffer, 2> buffers{
        asio::buffer(head), head_only ? asio::const_buffer{} : asio::buffer(r.body.view())};
    auto [ec, n] = co_await asio::async_write(st.socket, buffers, tuple_awaitable);
    (void)n;
    st.deadline = clock::time_point::max();
    if (ec) {
      if (st.timed_out) ++metrics_.timeouts;
      co_return false;
    }
    if (!head_only) metrics_.bytes_out += r.body.size();
    co_return true;
  }

  asio::awaitable<response> execute(const route& rt, std::string body) {
    switch (rt.what) {
      case action::refuse: {
        response r = response::text(rt.status, rt.reason);
        if (rt.challenge) r.extra += "WWW-Authenticate: Basic realm=\"larder\"\r\n";
        if (rt.status == 405) r.extra += "Allow: GET, HEAD, PUT, DELETE\r\n";
        co_return r;
      }
      case action::metrics: {
        response r = response::text(200, metrics_.prometheus_text(store_));
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        co_return r;
      }
      case action::status: {
        response r = response::text(200, metrics_.status_json(store_));
        r.content_type = "application/json";
        co_return r;
      }
      case action::get:
      case action::head: {
        lookup found = co_await store_.get(rt.key);
        auto proto = static_cast<std::size_t>(rt.proto);
        if (found.is_hit()) {
          ++metrics_.hits[proto];
          response r;
          r.status = 200;
          r.content_type = "application/octet-stream";
          r.body = std::move(found).value();
          co_return r;
        }
        if (found.is_miss()) {
          ++metrics_.misses[proto];
          co_return response::text(404, "no entry under " + rt.key);
        }
        ++metrics_.store_faults;
        co_return response::text(500,
                                 "store fault reading " + rt.key + ": " + found.error().message());
      }
      case action::put: {
        if (!rt.sha256.empty()) {
          std::string digest = sha256_hex(body);
          if (digest.empty()) {
            co_return response::text(501, "this build cannot verify CAS uploads (no OpenSSL)");
          }
          if (digest != rt.sha256) {
            ++metrics_.cas_mismatches;
            co_return response::text(
                400, "CAS upload's SHA-256 is " + digest + ", not the name it was sent under");
          }
        }
        std::error_code ec = co_await store_.put(rt.key, blob(std::move(body)));
        if (ec) {
          ++metrics_.store_faults;
          int status = ec == errc::value_too_large ? 413 : ec == errc::no_space ? 507 : 500;
          co_return response::text(status, "not stored under " + rt.key + ": " + ec.message());
        }
        ++puts_since_flush_;
        if (options_.flush_every_puts > 0 && puts_since_flush_ >= options_.flush_every_puts) {
          std::error_code fec = co_await flush_store();
          if (fec) co_return response::text(500, "stored, but the flush failed: " + fec.message());
        }
        co_return response::text(201, "");
      }
      case action::erase: {
        result<bool> removed = co_await store_.erase(rt.key);
        if (!removed) {
          ++metrics_.store_faults;
          co_return response::text(
              500, "store fault erasing " + rt.key + ": " + removed.error().message());
        }
        if (*removed) co_return response::text(204, "");
        co_return response::text(404, "no entry under " + rt.key);
      }
    }
    co_return response::text(500, "unhandled route");
  }

  void finish_request(const request_head& head, int status, clock::time_point begun,
                      std::size_t body_in, std::size_t body_out) {
    double seconds = std::chrono::duration<double>(clock::now() - begun).count();
    metrics_.record(head.method.empty() ? std::string("-") : head.method, status, seconds);
    if (options_.access_log) {
      char line[256];
      std::snprintf(line, sizeof line, "%s %.200s %d in=%zu out=%zu %.6fs",
                    head.method.empty() ? "-" : head.method.c_str(), head.target.c_str(), status,
                    body_in, body_out, seconds);
      log(line);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<conn_state> st) {
    ++metrics_.connections_open;
    request_reader reader(options_.limits);
    upload_reservation reserved{*this};
    std::string buffer;
    std::size_t used = 0;
    route rt;
    bool routed = false;
    bool keep_going = true;
    clock::time_point begun = clock::now();
    std::array<char, 64 * 1024> chunk;
    while (keep_going) {
      auto step = reader.feed(buffer.data() + used, buffer.size() - used);
      used += step.consumed;
      if (used == buffer.size()) {
        buffer.clear();
        used = 0;
      }
      if (step.what == request_reader::event::need_more && !reserved.grow(reader.body().size())) {
        response r = over_budget();
        co_await send(*st, r, false);
        finish_request(reader.head(), r.status, begun, reader.body().size(), r.body.size());
        break;
      }
      if (step.what == request_reader::event::need_more) {
        if (!reader.in_request() && buffer.size() == used && stopping_) break;
        st->idle = !reader.in_request() && buffer.size() == used;
        st->arm(clock::now() + (st->idle ? options_.idle_timeout : options_.read_timeout));
        auto [ec, n] = co_await st->socket.async_read_some(asio::buffer(chunk), tuple_awaitable);
        st->deadline = clock::time_point::max();
        if (n > 0 && st->idle) begun = clock::now();
        st->idle = false;
        if (ec) {
          if (st->timed_out) {
            ++metrics_.timeouts;
            if (reader.in_request()) {
              response r = response::text(408, "no byte arrived within the read timeout");
              r.close = true;
              st->timed_out = false;
              co_await send(*st, r, false);
              ++metrics_.aborted_uploads;
              finish_request(reader.head(), 408, begun, 0, r.body.size());
            }
          } else if (reader.in_request()) {
            // The client went away inside a request: nothing of it was stored.
            ++metrics_.aborted_uploads;
            log("connection closed inside a request to " + reader.head().target);
          }
          break;
        }
        metrics_.bytes_in += n;
        buffer.append(chunk.data(), n);
        continue;
      }
      if (step.what == request_reader::event::error) {
        ++metrics_.malformed;
        response r = response::text(reader.error_status(), reader.error_reason());
        r.close = true;  // the framing is lost: nothing after this can be trusted
        co_await send(*st, r, false);
        finish_request(reader.head(), r.status, begun, reader.body().size(), r.body.size());
        break;
      }
      if (step.what == request_reader::event::headers_done) {
        rt = decide(reader.head(), options_.auth);
        routed = true;
        if (rt.what == action::refuse) {
          // Refused before its body was read: answer and close rather than read and drop it.
          response r = co_await execute(rt, {});
          r.close = true;
          co_await send(*st, r, false);
          finish_request(reader.head(), r.status, begun, 0, r.body.size());
          break;
        }
        if (!reserved.grow(reader.head().content_length)) {
          response r = over_budget();
          co_await send(*st, r, false);
          finish_request(reader.head(), r.status, begun, 0, r.body.size());
          break;
        }
        if (reader.head().expect_continue) {
          static constexpr std::string_view cont = "HTTP/1.1 100 Continue\r\n\r\n";
          st->arm(clock::now() + options_.write_timeout);
          auto [ec, n] =
              co_await asio::async_write(st->socket, asio::buffer(cont), tuple_awaitable);
          (void)n;
          st->deadline = clock::time_point::max();
          if (ec) break;
        }
        continue;
      }
      // message_done
      const request_head& head = reader.head();
      if (!routed) rt = decide(head, options_.auth);
      std::size_t body_in = reader.body().size();
      response r = co_await execute(rt, reader.take_body());
      r.close = !head.keep_alive || stopping_;
      bool head_only = head.method == "HEAD";
      bool sent = co_await send(*st, r, head_only);
      finish_request(head, r.status, begun, body_in, head_only ? 0 : r.body.size());
      if (!sent || r.close) break;
      reserved.release();
      reader.next();
      routed = false;
      begun = clock::now();
    }
    st->done = true;
    std::error_code ignored;
    st->socket.shutdown(tcp::socket::shutdown_both, ignored);
    st->socket.close(ignored);
    st->timer.cancel();
    --metrics_.connections_open;
  }

  asio::awaitable<void> accept_loop() {
    while (!stopping_) {
      auto [ec, socket] = co_await acceptor_.async_accept(tuple_awaitable);
      if (stopping_) break;
      if (ec) {
        if (ec == asio::error::operation_aborted) break;
        // EMFILE and friends: wait a little rather than spin.
        std::fprintf(stderr, "larder-server: accept failed: %s\n", ec.message().c_str());
        asio::steady_timer pause(io_, std::chrono::milliseconds(50));
        co_await pause.async_wait(tuple_awaitable);
        continue;
      }
      if (metrics_.connections_open >= options_.max_connections) {
        std::error_code ignored;
        socket.close(ignored);
        continue;
      }
      ++metrics_.connections_accepted;
      socket.set_option(tcp::no_delay(true), ec);
      auto st = std::make_shared<conn_state>(std::move(socket));
      connections_.remove_if([](const auto& w) { return w.expired(); });
      connections_.push_back(st);
      auto self = shared_from_this();
      asio::co_spawn(
          io_, [self, st]() { return self->watchdog(st); }, asio::detached);
      asio::co_spawn(
          io_, [self, st]() { return self->serve(st); }, asio::detached);
    }
  }

  void stop() {
    if (stopping_) return;
    stopping_ = true;
    std::error_code ignored;
    acceptor_.close(ignored);
    flush_timer_.cancel();
    // Idle connections end now; those inside a request finish it and close after it.
    for (auto& w : connections_) {
      if (auto st = w.lock(); st && st->idle) st->socket.cancel(ignored);
    }
  }

  asio::awaitable<std::error_code> run() {
    if (options_.flush_every_secs > 0) {
      auto self = shared_from_this();
      asio::co_spawn(
          io_, [self]() { return self->periodic_flush(); }, asio::detached);
    }
    co_await accept_loop();
    // Drain: wait for the connections still serving a request, up to the drain timeout.
    auto until = clock::now() + options_.drain_timeout;
    asio::steady_timer wait(io_);
    while (metrics_.connections_open > 0 && clock::now() < until) {
      wait.expires_after(std::chrono::milliseconds(10));
      co_await wait.async_wait(tuple_awaitable);
    }
    std::error_code ignored;
    for (auto& w : connections_) {
      if (auto st = w.lock()) st->socket.close(ignored);
    }
    while (flush_running_) {
      wait.expires_after(std::chrono::milliseconds(5));
      co_await wait.async_wait(tuple_awaitable);
    }
    std::error_code ec = co_await flush_store();
    co_return ec;
  }
};

http_server::http_server(asio::io_context& io, layered_store& store, server_options options)
    : impl_(std::make_shared<impl>(io, store, std::move(options))) {}

http_server::~http_server() = default;

unsigned short http_server::bind() {
  auto& a = impl_->acceptor_;
  const auto& ep = impl_->options_.listen;
  std::error_code ec;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::system_error(
        ec, "cannot listen on " + ep.address().to_string() + ":" + std::to_string(ep.port()));
  }
  return a.local_endpoint().port();
}

asio::awaitable<std::error_code> http_server::run() {
  return impl_->run();
}
void http_server::stop() {
  impl_->stop();
}
const server_metrics& http_server::metrics() const noexcept {
  return impl_->metrics_;
}

}  // namespace larder::server
