// The latest error of a store's or bus's connections, in words, for reports and for the
// user's on_error callback (called only when the text changes, so a misconfiguration
// retried with backoff is reported once).
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace larder::redis {

class error_log {
 public:
  explicit error_log(std::function<void(std::string_view)> on_error = {})
      : on_error_(std::move(on_error)) {}

  void record(std::string text) {
    {
      std::lock_guard lock(mutex_);
      if (text == last_ && !recovered_) return;
      last_ = text;
      recovered_ = false;
    }
    if (on_error_) on_error_(text);
  }

  // A connection came up: the same error again is news again.
  void recovered() {
    std::lock_guard lock(mutex_);
    recovered_ = true;
  }

  std::string last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  std::function<void(std::string_view)> on_error_;
  mutable std::mutex mutex_;
  std::string last_;
  bool recovered_ = false;
};

}  // namespace larder::redis
