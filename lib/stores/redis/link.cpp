#include "stores/redis/link.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/write.hpp>
#include <type_traits>
#include <variant>

#if LARDER_REDIS_TLS
#include <asio/ssl/error.hpp>
#include <asio/ssl/host_name_verification.hpp>
#endif

namespace larder::redis {

// One connection attempt and, if it succeeds, the connection: its stream, its buffers
// and its RESP reader. Pending operations hold it, so a closed session's buffers stay
// valid until they complete.
struct link::session {
  using tcp = asio::ip::tcp;
  using unix_socket = asio::local::stream_protocol::socket;
#if LARDER_REDIS_TLS
  using tls_stream = asio::ssl::stream<tcp::socket>;
  std::variant<std::monostate, tcp::socket, unix_socket, tls_stream> stream;
#else
  std::variant<std::monostate, tcp::socket, unix_socket> stream;
#endif

  explicit session(const asio::strand<asio::any_io_executor>& strand)
      : resolver(strand), reader(redisReaderCreate()), in(64 * 1024) {}
  ~session() {
    if (reader != nullptr) redisReaderFree(reader);
  }
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  template <class F>
  void visit(F&& f) {
    std::visit(
        [&](auto& s) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) f(s);
        },
        stream);
  }
  void close() {
    std::error_code ignored;
    resolver.cancel();
    visit([&](auto& s) { (void)s.lowest_layer().close(ignored); });
  }

  tcp::resolver resolver;
  redisReader* reader;
  std::vector<char> in;
  std::string writing, queued;
  bool write_busy = false, read_busy = false;
};

link::link(const asio::any_io_executor& executor, link_settings settings)
    : strand_(asio::make_strand(executor)),
      settings_(std::move(settings)),
      setup_(plan_setup(settings_.connection, settings_.wants)),
      endpoint_(describe_endpoint(settings_.connection)),
      setup_timer_(strand_) {
  if (!settings_.errors) settings_.errors = std::make_shared<error_log>();
}

link::~link() {
  close();
}

void link::connect() {
  if (session_) return;
  auto s = std::make_shared<session>(strand_);
  session_ = s;
  state_ = state::connecting;
  phase_ = step::connect;
  setup_done_ = 0;
  auto self = shared_from_this();
  setup_timer_.expires_after(settings_.setup_timeout);
  setup_timer_.async_wait([self, s](const std::error_code& ec) {
    if (ec || !self->current(s) || self->state_ == state::up) return;
    self->fail(s, self->phase_,
               "no answer within " + std::to_string(self->settings_.setup_timeout.count()) + " ms");
  });
  const auto& c = settings_.connection;
  if (!c.unix_path.empty()) {
    auto& socket = s->stream.emplace<session::unix_socket>(strand_);
    socket.async_connect(asio::local::stream_protocol::endpoint(c.unix_path),
                         [self, s](const std::error_code& ec) {
                           if (!self->current(s)) return;
                           if (ec) return self->fail(s, step::connect, ec.message());
                           self->transport_ready(s);
                         });
    return;
  }
  session::tcp::socket* socket = nullptr;
#if LARDER_REDIS_TLS
  if (c.tls.enabled)
    socket = &s->stream.emplace<session::tls_stream>(strand_, settings_.tls->context).next_layer();
#endif
  if (socket == nullptr) socket = &s->stream.emplace<session::tcp::socket>(strand_);
  auto connected = [self, s, socket](const std::error_code& ec) {
    if (!self->current(s)) return;
    if (ec) return self->fail(s, step::connect, ec.message());
    std::error_code ignored;
    socket->set_option(asio::ip::tcp::no_delay(true), ignored);
    socket->set_option(asio::socket_base::keep_alive(true), ignored);
#if LARDER_REDIS_TLS
    if (auto* tls = std::get_if<session::tls_stream>(&s->stream)) {
      const auto& o = self->settings_.connection;
      const std::string& name = o.tls.server_name.empty() ? o.host : o.tls.server_name;
      std::error_code not_ip;
      (void)asio::ip::make_address(name, not_ip);
      if (not_ip) SSL_set_tlsext_host_name(tls->native_handle(), name.c_str());  // SNI
      if (o.tls.verify) tls->set_verify_callback(asio::ssl::host_name_verification(name));
      self->phase_ = step::tls;
      tls->async_handshake(asio::ssl::stream_base::client, [self, s,
                                                            tls](const std::error_code& ec) {
        if (!self->current(s)) return;
        if (ec) {
          std::string why = ec.message();
          const long verified = SSL_get_verify_result(tls->native_handle());
          if (verified != X509_V_OK)
            why += std::string(": ") + X509_verify_cert_error_string(verified);
          // A certificate the client refuses, or one the server refuses, will not get
          // better by retrying soon.
          return self->fail(s, step::tls, why, ec.category() == asio::error::get_ssl_category());
        }
        self->transport_ready(s);
      });
      return;
    }
#endif
    self->transport_ready(s);
  };
  std::error_code not_ip;
  const auto address = asio::ip::make_address(c.host, not_ip);
  if (!not_ip) {
    socket->async_connect(session::tcp::endpoint(address, c.port), connected);
    return;
  }
  s->resolver.async_resolve(
      c.host, std::to_string(c.port),
      [self, s, socket, connected](const std::error_code& ec,
                                   const session::tcp::resolver::results_type& found) {
        if (!self->current(s)) return;
        if (ec) return self->fail(s, step::connect, "resolving the host: " + ec.message());
        asio::async_connect(
            *socket, found,
            [connected](const std::error_code& e, const session::tcp::endpoint&) { connected(e); });
      });
}

void link::transport_ready(const std::shared_ptr<session>& s) {
  state_ = state::setting_up;
  if (setup_.empty()) return become_up(s);
  phase_ = setup_.front().what;
  for (const auto& c : setup_)
    s->queued += c.text;
  start_write(s);
  start_read(s);
}

void link::become_up(const std::shared_ptr<session>& s) {
  state_ = state::up;
  phase_ = step::command;
  setup_timer_.cancel();
  settings_.errors->recovered();
  on_up();
  if (current(s)) arm();
}

void link::send(std::string_view bytes) {
  if (!session_ || state_ != state::up || bytes.empty()) return;
  session_->queued.append(bytes);
  start_write(session_);
}

void link::start_write(const std::shared_ptr<session>& s) {
  if (s->write_busy || s->queued.empty()) return;
  s->writing.swap(s->queued);
  s->queued.clear();
  s->write_busy = true;
  auto self = shared_from_this();
  s->visit([&](auto& stream) {
    asio::async_write(stream, asio::buffer(s->writing),
                      [self, s](const std::error_code& ec, std::size_t) {
                        s->write_busy = false;
                        s->writing.clear();
                        if (!self->current(s)) return;
                        if (ec) return self->fail(s, self->phase_, "write: " + ec.message());
                        self->start_write(s);
                      });
  });
}

void link::arm() {
  if (!session_) return;
  if (state_ == state::setting_up || (state_ == state::up && wants_reading())) start_read(session_);
}

void link::start_read(const std::shared_ptr<session>& s) {
  if (s->read_busy) return;
  s->read_busy = true;
  auto self = shared_from_this();
  s->visit([&](auto& stream) {
    stream.async_read_some(
        asio::buffer(s->in), [self, s](const std::error_code& ec, std::size_t n) {
          s->read_busy = false;
          if (!self->current(s)) return;
          if (ec == asio::error::eof)
            return self->fail(s, self->phase_, "the server closed the connection");
          if (ec) return self->fail(s, self->phase_, "read: " + ec.message());
          self->received(s, n);
        });
  });
}

void link::received(const std::shared_ptr<session>& s, std::size_t n) {
  if (redisReaderFeed(s->reader, s->in.data(), n) != REDIS_OK)
    return fail(s, phase_, std::string("protocol error: ") + s->reader->errstr);
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(s->reader, &raw) != REDIS_OK)
      return fail(s, phase_, std::string("protocol error: ") + s->reader->errstr);
    if (raw == nullptr) break;
    auto* r = static_cast<redisReply*>(raw);
    if (state_ == state::setting_up)
      setup_reply(s, r);
    else
      on_reply(r);
    freeReplyObject(r);
    if (!current(s)) return;  // closed by what the reply did
  }
  arm();
}

void link::setup_reply(const std::shared_ptr<session>& s, redisReply* raw) {
  const auto& c = setup_[setup_done_];
  const auto v = judge(c.what, reply::from(*raw), settings_.wants);
  if (v.what == verdict::kind::refuse) return fail(s, c.what, v.text, true);
  if (v.what == verdict::kind::note) {
    auto text = describe_error(c.what, endpoint_, v.text);
    settings_.errors->record(text);
    on_note(c.what, text);
    if (!current(s)) return;
  }
  if (++setup_done_ == setup_.size()) return become_up(s);
  phase_ = setup_[setup_done_].what;
}

void link::fail(const std::shared_ptr<session>& s, step where, const std::string& text,
                bool misconfigured) {
  if (!current(s)) return;
  failure f{where, describe_error(where, endpoint_, text), misconfigured};
  settings_.errors->record(f.text);
  drop(&f);
}

void link::fail_now(step where, const std::string& text, bool misconfigured) {
  if (session_) fail(session_, where, text, misconfigured);
}

void link::close() {
  drop(nullptr);
}

void link::drop(const failure* why) {
  if (!session_) return;
  const bool was_up = state_ == state::up;
  auto s = std::move(session_);
  session_.reset();
  state_ = state::down;
  setup_timer_.cancel();
  s->close();
  on_down(was_up, why);
}

}  // namespace larder::redis
