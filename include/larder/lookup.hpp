// lookup: what a get returns: a hit with its value, a miss, or a fault with its cause.
#pragma once

#include <cassert>
#include <system_error>
#include <utility>

#include "larder/blob.hpp"
#include "larder/error.hpp"

namespace larder {

/// The outcome of `get`. A miss is a normal outcome, not an error; a fault (I/O error,
/// corrupt entry, remote down) carries its error_code and never carries bytes.
class [[nodiscard]] lookup {
 public:
  enum class state : unsigned char { miss, hit, fault };

  lookup() noexcept = default;  // a miss
  static lookup hit(blob value) noexcept { return lookup(std::move(value)); }
  static lookup miss() noexcept { return {}; }
  static lookup fault(std::error_code error) noexcept {
    assert(error);
    lookup out;
    out.state_ = state::fault;
    out.error_ = error;
    return out;
  }

  state status() const noexcept { return state_; }
  bool is_hit() const noexcept { return state_ == state::hit; }
  bool is_miss() const noexcept { return state_ == state::miss; }
  bool is_fault() const noexcept { return state_ == state::fault; }
  /// True on a hit only: `if (auto r = co_await s.get(k)) use(r.value());`
  explicit operator bool() const noexcept { return is_hit(); }

  /// The value of a hit; an empty blob otherwise.
  const blob& value() const& noexcept { return value_; }
  blob&& value() && noexcept { return std::move(value_); }
  /// The fault's cause; empty unless is_fault().
  std::error_code error() const noexcept { return error_; }

 private:
  explicit lookup(blob value) noexcept : value_(std::move(value)), state_(state::hit) {}

  blob value_;
  std::error_code error_;
  state state_ = state::miss;
};

}  // namespace larder
