#include "larder/fingerprint.hpp"

#include <blake3.h>

#include <new>

namespace larder {
namespace {

static_assert(sizeof(blake3_hasher) <= 1920, "hasher::state_ is too small for blake3_hasher");
static_assert(alignof(blake3_hasher) <= 8, "hasher::state_ is under-aligned for blake3_hasher");

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// BLAKE3's C dispatcher detects the CPU's features on first use and caches them in an
// unguarded global, a data race when two threads hash first at once (TSan sees it). Hash
// once during static initialisation, before any thread of the program can start.
[[maybe_unused]] const bool blake3_features_detected = [] {
  blake3_hasher h;
  blake3_hasher_init(&h);
  blake3_hasher_update(&h, "", 0);
  std::uint8_t out[BLAKE3_OUT_LEN];
  blake3_hasher_finalize(&h, out, sizeof out);
  return true;
}();

}  // namespace

hasher::hasher() noexcept {
  blake3_hasher_init(new (state_.data()) blake3_hasher);
}

hasher& hasher::update(std::span<const std::byte> bytes) noexcept {
  blake3_hasher_update(reinterpret_cast<blake3_hasher*>(state_.data()), bytes.data(), bytes.size());
  return *this;
}

void hasher::finalize_into(std::span<std::byte, 32> out) const noexcept {
  blake3_hasher_finalize(reinterpret_cast<const blake3_hasher*>(state_.data()),
                         reinterpret_cast<std::uint8_t*>(out.data()), out.size());
}

void hasher::reset() noexcept {
  blake3_hasher_reset(reinterpret_cast<blake3_hasher*>(state_.data()));
}

fingerprint fingerprint::of(std::span<const std::byte> bytes) noexcept {
  hasher h;
  h.update(bytes);
  return h.finalize();
}

result<fingerprint> fingerprint::from_hex(std::string_view hex) noexcept {
  if (hex.size() != 2 * size) return errc::invalid_hex;
  bytes_type out;
  for (std::size_t i = 0; i < size; ++i) {
    const int hi = hex_value(hex[2 * i]);
    const int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return errc::invalid_hex;
    out[i] = static_cast<std::byte>(hi << 4 | lo);
  }
  return fingerprint(out);
}

std::string fingerprint::to_hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(2 * size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    const auto b = std::to_integer<unsigned>(bytes_[i]);
    out[2 * i] = digits[b >> 4];
    out[2 * i + 1] = digits[b & 0xf];
  }
  return out;
}

}  // namespace larder
