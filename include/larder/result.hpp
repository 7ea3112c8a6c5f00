// result<T>: a value or the std::error_code that says why there is none.
#pragma once

#include <cassert>
#include <optional>
#include <system_error>
#include <utility>

#include "larder/error.hpp"

namespace larder {

/// A value of T, or an error. C++20 has no std::expected; this is the small part of
/// it that larder's operations need. A default-constructed result holds T{}.
template <class T>
class [[nodiscard]] result {
 public:
  result() : value_(std::in_place) {}
  result(T value) : value_(std::move(value)) {}                      // NOLINT: implicit by design
  result(std::error_code error) : error_(error) { assert(error_); }  // NOLINT
  result(errc error) : error_(make_error_code(error)) {}             // NOLINT

  bool has_value() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws std::system_error when there is none (a programming error,
  /// since callers check has_value() first).
  T& value() & { return checked(), *value_; }
  const T& value() const& { return checked(), *value_; }
  T&& value() && { return checked(), std::move(*value_); }

  T& operator*() & noexcept { return *value_; }
  const T& operator*() const& noexcept { return *value_; }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }

  template <class U>
  T value_or(U&& fallback) const& {
    return value_ ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

  /// The error; an empty error_code when a value is held.
  std::error_code error() const noexcept { return error_; }

 private:
  void checked() const {
    if (!value_) throw std::system_error(error_);
  }

  std::optional<T> value_;
  std::error_code error_;
};

}  // namespace larder
