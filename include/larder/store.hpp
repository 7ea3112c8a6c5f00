// The Store contract every larder store models, as a C++20 concept.
#pragma once

#include <asio/awaitable.hpp>
#include <concepts>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <utility>

#include "larder/blob.hpp"
#include "larder/lookup.hpp"
#include "larder/metrics.hpp"
#include "larder/result.hpp"

namespace larder {

/// Keys are byte strings: any bytes, NUL included. A fingerprint's key() is 32 bytes.
using key_view = std::string_view;

/// A store holds values under byte-string keys. Every async operation returns an
/// asio::awaitable that starts when it is awaited, so arguments passed by view (keys,
/// prefixes) must stay valid until the co_await completes; `co_await s.get(k)` in one
/// expression always satisfies that.
///
/// - `get(key)`: a hit with the value, a miss, or a fault. A fault is counted in
///   metrics and never carries bytes; wrong bytes are never returned.
/// - `put(key, value)`: stores the value or returns why not (errc::value_too_large,
///   errc::store_disabled, an I/O error). Never tears: a concurrent reader sees the
///   old complete value or the new complete value.
/// - `erase(key)`: removes the entry; true when there was one.
/// - `flush()`: the durability boundary. On success, every value whose put completed
///   before flush began survives a crash. Volatile stores complete at once.
/// - `invalidate_prefix(prefix)`: removes every entry whose key starts with `prefix`
///   (byte prefix: "client" also removes "clients/..."; "" removes everything) and
///   returns how many went. After it completes no get returns a removed value.
/// - `metrics()`: a snapshot of the store's counters.
///
/// All stores are safe to use from coroutines on several threads at once.
template <class S>
concept store = requires(S& s, const S& cs, key_view key, blob value) {
  { s.get(key) } -> std::same_as<asio::awaitable<lookup>>;
  { s.put(key, std::move(value)) } -> std::same_as<asio::awaitable<std::error_code>>;
  { s.erase(key) } -> std::same_as<asio::awaitable<result<bool>>>;
  { s.flush() } -> std::same_as<asio::awaitable<std::error_code>>;
  { s.invalidate_prefix(key) } -> std::same_as<asio::awaitable<result<std::uint64_t>>>;
  { cs.metrics() } -> std::same_as<metrics_snapshot>;
};

}  // namespace larder
