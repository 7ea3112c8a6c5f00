// any_store: a type-erased handle to any store, so tiers of different types can stack.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

#include "larder/blob.hpp"
#include "larder/bulk.hpp"
#include "larder/lookup.hpp"
#include "larder/metrics.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"

namespace larder {

/// Holds any type that models `store` behind one virtual call per operation; the
/// awaitable the store returns is passed through, so erasure adds no coroutine frame.
/// Copies share the same store (shared ownership). Operations have exactly the contract
/// (completion, cancellation, lifetimes) of the wrapped store's.
class any_store {
 public:
  /// Share ownership of `s`; `name` labels the tier in reports ("memory", "disk", ...).
  template <store S>
  any_store(std::shared_ptr<S> s, std::string name)  // NOLINT: converting by design
      : impl_(std::make_shared<model<S>>(std::move(s), std::move(name))) {}

  /// Take a store by value (moved into shared ownership).
  template <store S>
  requires(!std::same_as<std::remove_cvref_t<S>, any_store>) static any_store
      make(S&& s, std::string name) {
    return any_store(std::make_shared<std::remove_cvref_t<S>>(std::forward<S>(s)), std::move(name));
  }

  asio::awaitable<lookup> get(key_view key) { return impl_->get(key); }
  asio::awaitable<std::error_code> put(key_view key, blob value) {
    return impl_->put(key, std::move(value));
  }
  asio::awaitable<result<bool>> erase(key_view key) { return impl_->erase(key); }
  asio::awaitable<std::error_code> flush() { return impl_->flush(); }
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) {
    return impl_->invalidate_prefix(prefix);
  }
  /// The wrapped store's get_many, or its gets in order (larder/bulk.hpp).
  asio::awaitable<std::vector<lookup>> get_many(std::span<const key_view> keys) {
    return impl_->get_many(keys);
  }
  /// The wrapped store's put_many, or its puts in order (larder/bulk.hpp).
  asio::awaitable<std::vector<std::error_code>> put_many(std::span<const put_item> items) {
    return impl_->put_many(items);
  }
  metrics_snapshot metrics() const { return impl_->metrics(); }
  const std::string& name() const noexcept { return impl_->name; }

  /// The wrapped store, when it is an S; nullptr otherwise.
  template <store S>
  S* target() const noexcept {
    auto* m = dynamic_cast<model<S>*>(impl_.get());
    return m ? m->s.get() : nullptr;
  }

 private:
  struct concept_base {
    explicit concept_base(std::string n) : name(std::move(n)) {}
    virtual ~concept_base() = default;
    virtual asio::awaitable<lookup> get(key_view key) = 0;
    virtual asio::awaitable<std::error_code> put(key_view key, blob value) = 0;
    virtual asio::awaitable<result<bool>> erase(key_view key) = 0;
    virtual asio::awaitable<std::error_code> flush() = 0;
    virtual asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) = 0;
    virtual asio::awaitable<std::vector<lookup>> get_many(std::span<const key_view> keys) = 0;
    virtual asio::awaitable<std::vector<std::error_code>> put_many(
        std::span<const put_item> items) = 0;
    virtual metrics_snapshot metrics() const = 0;
    std::string name;
  };

  template <store S>
  struct model final : concept_base {
    model(std::shared_ptr<S> store, std::string n)
        : concept_base(std::move(n)), s(std::move(store)) {}
    asio::awaitable<lookup> get(key_view key) override { return s->get(key); }
    asio::awaitable<std::error_code> put(key_view key, blob value) override {
      return s->put(key, std::move(value));
    }
    asio::awaitable<result<bool>> erase(key_view key) override { return s->erase(key); }
    asio::awaitable<std::error_code> flush() override { return s->flush(); }
    asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix) override {
      return s->invalidate_prefix(prefix);
    }
    asio::awaitable<std::vector<lookup>> get_many(std::span<const key_view> keys) override {
      return larder::get_many(*s, keys);
    }
    asio::awaitable<std::vector<std::error_code>> put_many(
        std::span<const put_item> items) override {
      return larder::put_many(*s, items);
    }
    metrics_snapshot metrics() const override { return s->metrics(); }
    std::shared_ptr<S> s;
  };

  std::shared_ptr<concept_base> impl_;
};

static_assert(store<any_store>);

}  // namespace larder
