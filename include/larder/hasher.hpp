// hasher: incremental BLAKE3 over any number of byte runs.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace larder {

class fingerprint;

/// Incremental BLAKE3-256. Feed bytes with update() in any number of pieces; the
/// digest equals that of the concatenation. Not thread-safe; cheap to copy (about 2 KB).
class hasher {
 public:
  hasher() noexcept;

  hasher& update(std::span<const std::byte> bytes) noexcept;
  hasher& update(std::string_view bytes) noexcept {
    return update(std::as_bytes(std::span(bytes.data(), bytes.size())));
  }

  /// The digest of everything fed so far; the hasher can keep taking bytes after.
  fingerprint finalize() const noexcept;
  void finalize_into(std::span<std::byte, 32> out) const noexcept;

  /// Forget everything fed so far.
  void reset() noexcept;

 private:
  // Storage for the C library's blake3_hasher, whose header is not public here;
  // lib/core/fingerprint.cpp checks that size and alignment fit.
  alignas(8) std::array<std::byte, 1920> state_;
};

}  // namespace larder
