// get_many / put_many for any store: the store's own batched form when it has one, else a
// loop of its single-key operations.
#pragma once

#include <asio/awaitable.hpp>
#include <span>
#include <system_error>
#include <utility>
#include <vector>

#include "larder/blob.hpp"
#include "larder/lookup.hpp"
#include "larder/store.hpp"

// GCC 12 warns (-Wsubobject-linkage) when a coroutine template below is instantiated for a
// store type in an anonymous namespace: the frame it synthesises has a member of that type's
// reference. The frame never crosses a translation unit, so the warning is noise, and a user
// building with -Werror must not have to move their store out of an anonymous namespace.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsubobject-linkage"
#endif

namespace larder {

/// One key and the value to put under it; both must stay valid until put_many completes.
using put_item = std::pair<key_view, blob>;

template <class S>
concept has_get_many = requires(S& s, std::span<const key_view> keys) {
  { s.get_many(keys) } -> std::same_as<asio::awaitable<std::vector<lookup>>>;
};
template <class S>
concept has_put_many = requires(S& s, std::span<const put_item> items) {
  { s.put_many(items) } -> std::same_as<asio::awaitable<std::vector<std::error_code>>>;
};

/// One lookup per key, in the keys' order, with get's meaning for each (hit, miss, fault).
/// Stores with their own get_many batch the work (the memory store without a coroutine
/// frame per key); every other store is read key by key, in order. The keys must stay
/// valid until the call completes. Completion and cancellation: those of the store's gets.
template <store S>
asio::awaitable<std::vector<lookup>> get_many(S& s, std::span<const key_view> keys) {
  if constexpr (has_get_many<S>) {
    co_return co_await s.get_many(keys);
  } else {
    std::vector<lookup> out;
    out.reserve(keys.size());
    for (const auto key : keys) {
      auto r = co_await s.get(key);
      out.push_back(std::move(r));
    }
    co_return out;
  }
}

/// One put per item, in order; one error code per item with put's meaning.
template <store S>
asio::awaitable<std::vector<std::error_code>> put_many(S& s, std::span<const put_item> items) {
  if constexpr (has_put_many<S>) {
    co_return co_await s.put_many(items);
  } else {
    std::vector<std::error_code> out;
    out.reserve(items.size());
    for (const auto& item : items) {
      const auto ec = co_await s.put(item.first, item.second);
      out.push_back(ec);
    }
    co_return out;
  }
}

}  // namespace larder

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
