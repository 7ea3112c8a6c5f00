// canonical<T>: the customisation point that defines a type's canonical bytes.
#pragma once

#include <bit>
#include <concepts>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "larder/hasher.hpp"

namespace larder {

/// Specialise canonical<T> with `static void append(hasher&, const T&)` to say which
/// bytes identify a T. Two values that mean the same must append the same bytes
/// (sort unordered members, fix widths and byte order); values that differ must not,
/// so variable-length parts carry their length. The specialisations below do that for
/// integers, enums, strings, byte spans, pairs, vectors and ordered maps.
template <class T>
struct canonical;

template <class T>
concept canonicalizable = requires(hasher& h, const T& value) {
  canonical<T>::append(h, value);
};

namespace detail {
inline void append_u64(hasher& h, std::uint64_t v) {
  std::array<std::byte, 8> le;
  for (std::size_t i = 0; i < 8; ++i)
    le[i] = static_cast<std::byte>(v >> (8 * i));
  h.update(std::span<const std::byte>(le));
}
}  // namespace detail

/// Integers: fixed 8-byte little-endian, so int and long spellings of 5 agree.
template <class T>
requires std::integral<T> &&(!std::same_as<T, bool>)struct canonical<T> {
  static void append(hasher& h, T v) {
    detail::append_u64(h, static_cast<std::uint64_t>(static_cast<std::int64_t>(v)));
  }
};

template <>
struct canonical<bool> {
  static void append(hasher& h, bool v) { detail::append_u64(h, v ? 1 : 0); }
};

template <class T>
requires std::is_enum_v<T>
struct canonical<T> {
  static void append(hasher& h, T v) {
    canonical<std::underlying_type_t<T>>::append(h, static_cast<std::underlying_type_t<T>>(v));
  }
};

/// Strings and byte runs: length, then the bytes.
template <>
struct canonical<std::string_view> {
  static void append(hasher& h, std::string_view s) {
    detail::append_u64(h, s.size());
    h.update(s);
  }
};
template <>
struct canonical<std::string> {
  static void append(hasher& h, const std::string& s) { canonical<std::string_view>::append(h, s); }
};
template <>
struct canonical<std::vector<std::byte>> {
  static void append(hasher& h, const std::vector<std::byte>& bytes) {
    detail::append_u64(h, bytes.size());
    h.update(std::span<const std::byte>(bytes));
  }
};

template <canonicalizable A, canonicalizable B>
struct canonical<std::pair<A, B>> {
  static void append(hasher& h, const std::pair<A, B>& p) {
    canonical<A>::append(h, p.first);
    canonical<B>::append(h, p.second);
  }
};

template <canonicalizable T>
struct canonical<std::vector<T>> {
  static void append(hasher& h, const std::vector<T>& items) {
    detail::append_u64(h, items.size());
    for (const auto& item : items)
      canonical<T>::append(h, item);
  }
};

/// Ordered maps: count, then pairs in key order (insertion order cannot leak in).
template <canonicalizable K, canonicalizable V, class C, class A>
struct canonical<std::map<K, V, C, A>> {
  static void append(hasher& h, const std::map<K, V, C, A>& items) {
    detail::append_u64(h, items.size());
    for (const auto& [k, v] : items) {
      canonical<K>::append(h, k);
      canonical<V>::append(h, v);
    }
  }
};

}  // namespace larder
