// One connection to a Redis server on an Asio strand: TCP, a unix socket or TLS over
// TCP, the setup commands (handshake.hpp) before anything else, then RESP replies parsed
// by hiredis' reader (sans-I/O) and handed to the subclass in order.
#pragma once

#include <hiredis/hiredis.h>

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "larder/redis_connection.hpp"
#include "stores/redis/error_log.hpp"
#include "stores/redis/handshake.hpp"
#include "stores/redis/tls.hpp"

namespace larder::redis {

struct link_settings {
  redis_connection_options connection;  // the URL already applied
  setup_wants wants;
  std::chrono::milliseconds setup_timeout{1000};  // connect, TLS and setup replies
  std::shared_ptr<tls_context> tls;               // set when connection.tls.enabled
  std::shared_ptr<error_log> errors;
};

// Why a connection went down.
struct failure {
  step where = step::connect;
  std::string text;            // the full message (describe_error)
  bool misconfigured = false;  // refused at setup: back off long, do not hammer
};

// Every member runs on strand(). Completions of a connection that is gone (closed,
// replaced) are ignored: each attempt has its own session object, kept alive by its
// pending operations. Subclasses must call close() in their destructor.
class link : public std::enable_shared_from_this<link> {
 public:
  link(const asio::any_io_executor& executor, link_settings settings);
  virtual ~link();
  link(const link&) = delete;
  link& operator=(const link&) = delete;

  const asio::strand<asio::any_io_executor>& strand() const noexcept { return strand_; }
  // A connection exists or is being made.
  bool active() const noexcept { return session_ != nullptr; }
  // Set up and serving.
  bool connected() const noexcept { return state_ == state::up; }
  const std::string& endpoint_name() const noexcept { return endpoint_; }
  const link_settings& settings() const noexcept { return settings_; }

  // Starts a connection attempt unless one exists; on_up or on_down follows.
  void connect();
  // Drops the connection; on_down runs before this returns (when there was one).
  void close();
  // Queues RESP bytes; only once connected() (setup goes first, on its own).
  void send(std::string_view bytes);
  // Starts a read when one is wanted (call after sending requests).
  void arm();
  // Records the failure and drops the connection (a subclass's own verdict, e.g. a
  // refused SUBSCRIBE).
  void fail_now(step where, const std::string& text, bool misconfigured);

 protected:
  virtual void on_up() {}
  // `why` is null when close() was called.
  virtual void on_down(bool /*was_up*/, const failure* /*why*/) {}
  // One reply after setup; the reply is freed when this returns.
  virtual void on_reply(redisReply* /*r*/) {}
  // A setup step that was answered but could not be completed, not fatal.
  virtual void on_note(step /*s*/, const std::string& /*text*/) {}
  // Whether to read once connected: a data connection reads only while replies are due,
  // so an idle store never keeps its io_context from returning.
  virtual bool wants_reading() const { return true; }

 private:
  struct session;
  enum class state : unsigned char { down, connecting, setting_up, up };

  void transport_ready(const std::shared_ptr<session>& s);
  void start_write(const std::shared_ptr<session>& s);
  void start_read(const std::shared_ptr<session>& s);
  void received(const std::shared_ptr<session>& s, std::size_t n);
  void setup_reply(const std::shared_ptr<session>& s, redisReply* r);
  void become_up(const std::shared_ptr<session>& s);
  void fail(const std::shared_ptr<session>& s, step where, const std::string& text,
            bool misconfigured = false);
  void drop(const failure* why);
  bool current(const std::shared_ptr<session>& s) const noexcept { return s == session_; }

  asio::strand<asio::any_io_executor> strand_;
  link_settings settings_;
  std::vector<setup_command> setup_;
  std::string endpoint_;
  std::shared_ptr<session> session_;
  state state_ = state::down;
  std::size_t setup_done_ = 0;  // setup replies judged
  step phase_ = step::connect;  // what a failure now would name
  asio::steady_timer setup_timer_;
};

}  // namespace larder::redis
