// Transparent hashing for string-keyed maps, so lookups by std::string_view do not build a
// std::string (an allocation for fingerprint-sized keys) on every get.
#pragma once

#include <cstddef>
#include <functional>
#include <string_view>

namespace larder::bench {

/// Pair with std::equal_to<> in std::unordered_map<std::string, T, string_hash,
/// std::equal_to<>>: C++20 then offers find(std::string_view).
struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

}  // namespace larder::bench
