// fingerprint: the 32-byte BLAKE3 digest of a value's canonical bytes, used as a cache key.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "larder/canonical.hpp"
#include "larder/hasher.hpp"
#include "larder/result.hpp"

namespace larder {

/// A BLAKE3-256 digest. Equal canonical bytes give equal fingerprints, so two spellings
/// of one value share cached artifacts. Trivially copyable; ordered byte-wise.
class fingerprint {
 public:
  static constexpr std::size_t size = 32;
  using bytes_type = std::array<std::byte, size>;

  constexpr fingerprint() noexcept = default;
  constexpr explicit fingerprint(const bytes_type& bytes) noexcept : bytes_(bytes) {}

  /// Digest of raw bytes.
  static fingerprint of(std::span<const std::byte> bytes) noexcept;
  static fingerprint of(std::string_view bytes) noexcept {
    return of(std::as_bytes(std::span(bytes.data(), bytes.size())));
  }

  /// Digest of a value's canonical bytes, as `canonical<T>` writes them.
  template <canonicalizable T>
  static fingerprint of_value(const T& value) {
    hasher h;
    canonical<T>::append(h, value);
    return h.finalize();
  }

  /// Parse the 64-character lowercase (or uppercase) hex form; anything else is
  /// errc::invalid_hex.
  static result<fingerprint> from_hex(std::string_view hex) noexcept;

  /// The 64-character lowercase hex form.
  std::string to_hex() const;

  /// The raw 32 bytes as a key for any store.
  std::string_view key() const noexcept {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  const bytes_type& bytes() const noexcept { return bytes_; }

  friend constexpr bool operator==(const fingerprint&, const fingerprint&) noexcept = default;
  friend constexpr auto operator<=>(const fingerprint&, const fingerprint&) noexcept = default;

 private:
  bytes_type bytes_{};
};

inline fingerprint hasher::finalize() const noexcept {
  fingerprint::bytes_type out;
  finalize_into(out);
  return fingerprint(out);
}

}  // namespace larder

template <>
struct std::hash<larder::fingerprint> {
  std::size_t operator()(const larder::fingerprint& fp) const noexcept {
    // The digest is uniformly distributed already: its first word is a fine hash.
    std::size_t h;
    static_assert(sizeof(h) <= larder::fingerprint::size);
    __builtin_memcpy(&h, fp.bytes().data(), sizeof(h));
    return h;
  }
};
