// One hiredis async connection driven by descriptor waits on an Asio executor.
#pragma once

#include <hiredis/async.h>

#include <asio/any_io_executor.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/strand.hpp>
#include <cstdint>
#include <memory>
#include <string>

namespace larder::redis {

struct endpoint {
  std::string host;
  std::uint16_t port = 6379;
};

// hiredis is not thread-safe: every member runs on strand(), and so do hiredis'
// callbacks (they are only ever invoked from inside calls made there). hiredis owns the
// socket; the descriptor only waits for readiness and is released (never closed) before
// hiredis closes the fd. Subclasses learn about the connection through the virtual
// hooks; they must call close() in their own destructor, since a base destructor would
// only reach the base hooks.
class link : public std::enable_shared_from_this<link> {
 public:
  link(const asio::any_io_executor& executor, endpoint where);
  virtual ~link();
  link(const link&) = delete;
  link& operator=(const link&) = delete;

  const asio::strand<asio::any_io_executor>& strand() const noexcept { return strand_; }
  redisAsyncContext* context() const noexcept { return context_; }
  bool connected() const noexcept { return connected_; }
  const endpoint& where() const noexcept { return where_; }

  // Starts a connection attempt; false when it failed at once (on_down has run).
  bool connect();
  // Frees the context: pending callbacks receive a null reply, then on_down runs.
  void close();
  // Arms the descriptor waits hiredis asked for (call after issuing commands).
  void arm();

 protected:
  // The context exists but is not connected yet: queue the commands that must go first.
  virtual void on_connecting() {}
  virtual void on_up() {}
  // The context is gone; `was_connected` tells a lost connection from a failed attempt.
  virtual void on_down(bool /*was_connected*/) {}
  // After each readiness event has been handed to hiredis.
  virtual void after_io() {}
  // Whether to wait for readability now. A data connection reads only while replies are
  // due, so an idle store never keeps its io_context from returning.
  virtual bool wants_reading() const { return true; }

 private:
  static void hook_add_read(void* self);
  static void hook_del_read(void* self);
  static void hook_add_write(void* self);
  static void hook_del_write(void* self);
  static void hook_cleanup(void* self);
  static void hook_connected(const redisAsyncContext* context, int status);

  void ready(std::uint64_t generation, const std::error_code& ec, bool readable);
  void gone();

  asio::strand<asio::any_io_executor> strand_;
  asio::posix::stream_descriptor descriptor_;
  endpoint where_;
  redisAsyncContext* context_ = nullptr;
  // Bumped whenever the context goes, so waits armed for an old one do nothing.
  std::uint64_t generation_ = 0;
  bool connected_ = false;
  bool want_read_ = false, want_write_ = false;
  bool read_armed_ = false, write_armed_ = false;
};

}  // namespace larder::redis
