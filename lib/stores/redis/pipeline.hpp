// A data connection: requests from coroutines on any thread, pipelined on one link,
// each answered or failed within its deadline.
#pragma once

#include <concurrentqueue/concurrentqueue.h>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "larder/error.hpp"
#include "stores/redis/link.hpp"
#include "stores/redis/reply.hpp"

namespace larder::redis {

using clock = std::chrono::steady_clock;

// Counters shared by a store's connections.
struct link_stats {
  std::atomic<std::uint64_t> connects{0}, connect_failures{0}, disconnects{0}, timeouts{0},
      unavailable{0}, remote_errors{0}, setup_errors{0}, setup_failures{0}, policy_unchecked{0},
      no_space{0};
  std::atomic<int> up{0};  // connections established now
};

struct pipeline_options {
  std::chrono::milliseconds timeout{1000};
  std::chrono::milliseconds backoff_min{10}, backoff_max{1000};
  // After a refused setup (misconfiguration): from backoff_max, doubling up to this.
  std::chrono::milliseconds setup_backoff_max{30'000};
};

// One request in flight. complete() hands the reply to the caller's executor and frees
// the request.
struct request {
  virtual ~request() = default;
  virtual void complete(reply r) = 0;
  std::string text;  // the command in RESP form
  clock::time_point deadline;
  unsigned skip = 0;  // replies before this request's own (ASKING's OK), ignored
};

template <class Handler>
class request_for final : public request {
 public:
  request_for(Handler handler, asio::any_io_executor fallback)
      : handler_(std::move(handler)), fallback_(std::move(fallback)) {}
  void complete(reply r) override {
    auto executor = asio::get_associated_executor(handler_, fallback_);
    // Posted, never run inline: the caller must not resume inside hiredis or on our strand.
    asio::post(executor, [h = std::move(handler_), r = std::move(r)]() mutable {
      std::move(h)(std::move(r));
    });
    delete this;
  }

 private:
  Handler handler_;
  asio::any_io_executor fallback_;
};

class pipeline final : public link {
 public:
  pipeline(const asio::any_io_executor& executor, link_settings settings, pipeline_options options,
           std::shared_ptr<link_stats> stats);
  ~pipeline() override;

  // Sends `text` (one RESP command) and completes with its reply: a fault of
  // errc::backend_unavailable (no connection, or it was lost before the reply),
  // errc::remote_setup_failed (the server refused the connection's setup),
  // errc::timed_out (no reply within the timeout) or errc::shut_down. Any thread.
  template <class Token>
  auto execute(std::string text, Token&& token) {
    return asio::async_initiate<Token, void(reply)>(
        [this](auto handler, std::string t) {
          using handler_type = decltype(handler);
          auto* r = new request_for<handler_type>(std::move(handler), strand());
          r->text = std::move(t);
          submit(r);
        },
        token, std::move(text));
  }

  // The same, preceded by ASKING on the same connection (a Cluster ASK redirect): both
  // go out together, so no other request can come between them.
  template <class Token>
  auto execute_asking(std::string text, Token&& token) {
    return asio::async_initiate<Token, void(reply)>(
        [this](auto handler, std::string t) {
          using handler_type = decltype(handler);
          auto* r = new request_for<handler_type>(std::move(handler), strand());
          r->text = "*1\r\n$6\r\nASKING\r\n" + t;
          r->skip = 1;
          submit(r);
        },
        token, std::move(text));
  }

  // Starts connecting now rather than on the first request.
  void start();
  // Fails everything pending with errc::shut_down and closes; later requests fail too.
  void shutdown();

 private:
  void submit(request* r);
  void drain();
  void issue(request* r);
  void fail(request* r, errc why);
  void sweep();
  void arm_sweep();

  void on_up() override;
  void on_down(bool was_up, const failure* why) override;
  void on_reply(redisReply* raw) override;
  void on_note(step s, const std::string& text) override;
  bool wants_reading() const override { return !in_flight_.empty(); }

  pipeline_options options_;
  std::shared_ptr<link_stats> stats_;
  moodycamel::ConcurrentQueue<request*> incoming_;
  std::atomic<bool> drain_posted_{false};
  std::atomic<bool> shut_down_{false};
  // Strand-only state.
  std::deque<request*> in_flight_;  // sent or held, in reply order
  std::string held_;                // requests made while the connection is set up
  std::string batch_;               // requests of one drain, sent together
  asio::steady_timer sweep_;
  bool sweep_armed_ = false;
  clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_;
  std::chrono::milliseconds setup_backoff_;
  errc reset_reason_ = errc::backend_unavailable;
  errc down_code_ = errc::backend_unavailable;  // what requests fail with until retry_at_
};

}  // namespace larder::redis
