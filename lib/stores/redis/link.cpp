#include "stores/redis/link.hpp"

#include <asio/posix/descriptor_base.hpp>
#include <utility>

namespace larder::redis {

link::link(const asio::any_io_executor& executor, endpoint where)
    : strand_(asio::make_strand(executor)), descriptor_(strand_), where_(std::move(where)) {}

link::~link() {
  close();
}

bool link::connect() {
  redisAsyncContext* context = redisAsyncConnect(where_.host.c_str(), where_.port);
  if (context == nullptr) {
    on_down(false);
    return false;
  }
  if (context->err != 0) {
    // No hooks are attached yet, so this only frees memory and closes the socket.
    redisAsyncFree(context);
    on_down(false);
    return false;
  }
  context_ = context;
  connected_ = false;
  context->data = this;
  context->ev.data = this;
  context->ev.addRead = &link::hook_add_read;
  context->ev.delRead = &link::hook_del_read;
  context->ev.addWrite = &link::hook_add_write;
  context->ev.delWrite = &link::hook_del_write;
  context->ev.cleanup = &link::hook_cleanup;
  std::error_code ec;
  descriptor_.assign(context->c.fd, ec);
  if (ec) {
    close();
    return false;
  }
  // Completion of the non-blocking connect shows as the first writability, so hiredis
  // asks for a write wait here: the hooks must already be in place.
  redisAsyncSetConnectCallback(context, &link::hook_connected);
  on_connecting();
  arm();
  return context_ != nullptr;
}

void link::close() {
  if (context_ != nullptr) redisAsyncFree(context_);  // runs hook_cleanup, hence gone()
}

void link::arm() {
  if (context_ == nullptr) return;
  if (want_write_ && !write_armed_) {
    write_armed_ = true;
    descriptor_.async_wait(asio::posix::descriptor_base::wait_write,
                           [self = shared_from_this(), g = generation_](const std::error_code& ec) {
                             self->ready(g, ec, false);
                           });
  }
  if (want_read_ && !read_armed_ && wants_reading()) {
    read_armed_ = true;
    descriptor_.async_wait(asio::posix::descriptor_base::wait_read,
                           [self = shared_from_this(), g = generation_](const std::error_code& ec) {
                             self->ready(g, ec, true);
                           });
  }
}

void link::ready(std::uint64_t generation, const std::error_code& ec, bool readable) {
  if (generation != generation_) return;  // armed for a context that is gone
  (readable ? read_armed_ : write_armed_) = false;
  if (!ec && context_ != nullptr) {
    // Either call may end in the context being freed (gone() then clears context_).
    if (readable && want_read_)
      redisAsyncHandleRead(context_);
    else if (!readable && want_write_)
      redisAsyncHandleWrite(context_);
  }
  after_io();
  arm();
}

void link::gone() {
  const bool was_connected = connected_;
  connected_ = false;
  context_ = nullptr;
  ++generation_;
  want_read_ = want_write_ = read_armed_ = write_armed_ = false;
  // hiredis closes the fd right after this hook returns: hand it back, do not close it.
  if (descriptor_.is_open()) (void)descriptor_.release();
  on_down(was_connected);
}

// The hooks only note what hiredis wants; waits are armed after the hiredis call
// returns (ready(), or whoever issued a command), once its callbacks have run: hiredis
// asks for a read before it processes the replies it just read, and a wait armed then
// would outlive the last reply and keep the io_context busy.
void link::hook_add_read(void* self) {
  static_cast<link*>(self)->want_read_ = true;
}
void link::hook_del_read(void* self) {
  static_cast<link*>(self)->want_read_ = false;
}
void link::hook_add_write(void* self) {
  static_cast<link*>(self)->want_write_ = true;
}
void link::hook_del_write(void* self) {
  static_cast<link*>(self)->want_write_ = false;
}
void link::hook_cleanup(void* self) {
  static_cast<link*>(self)->gone();
}
void link::hook_connected(const redisAsyncContext* context, int status) {
  auto* l = static_cast<link*>(context->data);
  if (status != REDIS_OK) return;  // hiredis frees the context next: hook_cleanup follows
  l->connected_ = true;
  redisEnableKeepAlive(&const_cast<redisAsyncContext*>(context)->c);
  l->on_up();
}

}  // namespace larder::redis
