// fill_guard: a fill (a promotion, a load's install: a value read before it is written)
// never lands after a write or removal of its key that it overlapped.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace larder::detail {

/// The contract, for an owner whose fills and writers suspend (the layered store, the
/// live core):
///
/// - A fill calls begin_fill(key) before it reads the value it will write, then
///   try_commit right before writing, and end_fill when done (or abandoned; fill_ticket
///   does both ends). try_commit fails if a writer scope covering the key was open at
///   begin_fill or opened since; on success the fill is committing until end_fill.
/// - A writer (put, erase, invalidate_prefix) opens a scope over a key or a prefix
///   before it acts and closes it after its last tier step (writer_scope). Opening
///   dooms every covering fill not yet committing, and the scope is clear once every
///   covering fill that was already committing has ended: the writer acts only then, so
///   each fill either stands down or lands before the writer's own steps, never after.
/// - Fills never wait on writers, writers wait only on fills already writing (one tier
///   write each), and writers never exclude each other: no cycle, so no deadlock.
///
/// - Tag scopes (open_tags) are for writers that cannot name the keys they change: the
///   live table's "row X changed" reaches pages whose rows a fill has not read yet. A tag
///   scope dooms nothing at once; it appends its tags to every fill not yet committing
///   (and a fill begun while it is open starts with them), and it waits out every fill
///   already committing, whatever its key. try_commit(fill, judge) then lets the owner
///   decide, from what the fill read, whether any tag it saw makes it stale. A fill that
///   saw more than `max_seen_tags` tags is doomed without asking.
///
/// Thread-safe; callbacks run outside the lock. The guard must outlive its tickets and
/// scopes. This synchronous core has no I/O; `enter` below is its awaitable form.
class fill_guard {
 public:
  using id = std::uint64_t;

  id begin_fill(std::string_view key);
  /// True: the fill may write now (and must end_fill after). False: a covering writer
  /// overlapped it; it must not write.
  bool try_commit(id fill);
  /// try_commit, and also false when `stale(tags)` is true for the tags of the tag scopes
  /// that overlapped the fill (called under the guard's lock: it must not call back).
  bool try_commit(id fill, const std::function<bool(const std::vector<std::string>&)>& stale);
  void end_fill(id fill);

  static constexpr std::size_t max_seen_tags = 1024;

  struct opened {
    id scope;
    std::size_t doomed = 0;   ///< fills that will stand down because of this scope
    std::size_t waiting = 0;  ///< committing fills the scope waits out
  };
  /// Open a writer scope over `key` (exact) or every key starting with it.
  opened open(std::string_view key_or_prefix, bool exact);
  /// Open a tag scope (see above): `tags` reach every fill in flight and every fill begun
  /// before it closes.
  opened open_tags(std::vector<std::string> tags);
  /// Call `resume` once the scope is clear: false (and `resume` dropped) if it is clear
  /// already; true if stored, then called exactly once from the end_fill that clears it.
  bool when_clear(id scope, std::function<void()> resume);
  void close(id scope);

  std::size_t fills() const;
  std::size_t scopes() const;

 private:
  struct fill_state {
    std::string key;
    bool doomed = false, committing = false;
    std::vector<std::string> seen;  // tags of tag scopes that overlapped it
    std::vector<id> waited_by;      // scopes that opened while this fill was committing
  };
  struct scope_state {
    std::string key;
    bool exact;
    std::vector<std::string> tags;  // a tag scope: key empty, not exact
    bool tagged = false;
    std::size_t pending = 0;
    std::function<void()> resume;
  };
  static bool covers(const scope_state& s, std::string_view key) noexcept;

  mutable std::mutex mutex_;
  id next_ = 1;
  absl::flat_hash_map<id, fill_state> fills_;
  absl::flat_hash_map<std::string, std::vector<id>> fills_by_key_;
  absl::flat_hash_map<id, scope_state> scopes_;
  absl::flat_hash_map<std::string, std::size_t> exact_open_;  // open exact scopes per key
  std::size_t prefix_open_ = 0;
  std::size_t tags_open_ = 0;
};

/// A fill from begin to end: ends it on destruction, whether it committed or not.
class fill_ticket {
 public:
  fill_ticket(fill_guard& guard, std::string_view key)
      : guard_(&guard), id_(guard.begin_fill(key)) {}
  fill_ticket(fill_ticket&& o) noexcept : guard_(std::exchange(o.guard_, nullptr)), id_(o.id_) {}
  fill_ticket& operator=(fill_ticket&&) = delete;
  ~fill_ticket() { end(); }
  bool try_commit() { return guard_ && guard_->try_commit(id_); }
  bool try_commit(const std::function<bool(const std::vector<std::string>&)>& stale) {
    return guard_ && guard_->try_commit(id_, stale);
  }
  void end() {
    if (auto* g = std::exchange(guard_, nullptr)) g->end_fill(id_);
  }

 private:
  fill_guard* guard_;
  fill_guard::id id_;
};

/// An open writer scope: closes it on destruction.
class writer_scope {
 public:
  writer_scope(fill_guard& guard, fill_guard::opened o) : guard_(&guard), opened_(o) {}
  writer_scope(writer_scope&& o) noexcept
      : guard_(std::exchange(o.guard_, nullptr)), opened_(o.opened_) {}
  writer_scope& operator=(writer_scope&&) = delete;
  ~writer_scope() {
    if (guard_) guard_->close(opened_.scope);
  }
  /// Fills this scope will keep out (they stand down at try_commit).
  std::size_t doomed() const noexcept { return opened_.doomed; }
  /// Fills already writing that this scope waited out (they landed before its writer).
  std::size_t waited_out() const noexcept { return opened_.waiting; }

 private:
  fill_guard* guard_;
  fill_guard::opened opened_;
};

/// Suspend until the scope `o` is clear: at once when it waits for no fill, else until
/// the end_fill that clears it posts the resumption to the caller's executor. An event,
/// not a poll. Not cancellable: it waits only for fills already writing.
inline asio::awaitable<void> wait_clear(fill_guard& guard, fill_guard::opened o) {
  if (o.waiting == 0) co_return;
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
      [&guard, id = o.scope](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto resume = [shared] {
          auto ex = asio::get_associated_executor(*shared);
          asio::post(ex, std::move(*shared));
        };
        if (!guard.when_clear(id, resume)) resume();
      },
      asio::use_awaitable);
}

/// Open a writer scope and suspend until it is clear (completion posted to the caller's
/// executor; at once, without suspending, when no covering fill is committing). Not
/// cancellable: it waits only for fills already writing, one tier write each. The guard
/// and `key_or_prefix` must stay valid until it completes.
inline asio::awaitable<writer_scope> enter(fill_guard& guard, std::string_view key_or_prefix,
                                           bool exact) {
  const auto o = guard.open(key_or_prefix, exact);
  writer_scope scope(guard, o);
  co_await wait_clear(guard, o);
  co_return std::move(scope);
}

/// enter() for a tag scope: open it and suspend until every fill committing at the time
/// has ended.
inline asio::awaitable<writer_scope> enter_tags(fill_guard& guard, std::vector<std::string> tags) {
  const auto o = guard.open_tags(std::move(tags));
  writer_scope scope(guard, o);
  co_await wait_clear(guard, o);
  co_return std::move(scope);
}

}  // namespace larder::detail
