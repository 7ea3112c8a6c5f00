// Removals: erase, invalidate_prefix, eviction and the discarding of bad files. Each takes its
// entries out of the index under the lock, unlinks their files outside it, and only then
// ends. While it runs its keys are marked as unlinking, so that a removal or put of the same
// key waits for it, and flush waits for every removal begun before it; the fan-out
// directories it touched are fsynced by the next flush. An unlink that fails puts its entry
// back: the index never forgets a file that is still on disk.
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>
#include <string>
#include <utility>
#include <vector>

#include "larder/disk_store.hpp"
#include "stores/disk/format.hpp"
#include "stores/disk/state.hpp"

namespace larder {

using detail::disk::bump;
using detail::disk::is_errno;
using detail::disk::map_error;

// --- bookkeeping ------------------------------------------------------------------------

detail::disk::removal disk_store::impl::begin_removal_locked() {
  detail::disk::removal r;
  r.id = next_removal++;
  removals_in_flight.insert(r.id);
  return r;
}

void disk_store::impl::take_locked(detail::disk::removal& r, detail::disk::index_node* n) {
  const auto name = detail::disk::name_of(n->key());
  detail::disk::taken_entry t;
  t.key = std::string(n->key());
  t.path = detail::disk::relative_path(name);
  t.dir = detail::disk::dir_of(name);
  t.size = n->size;
  // A removed entry has nothing left to make durable (unless its unlink fails).
  t.was_pending = pending.erase(t.path) > 0;
  bytes -= n->size;
  note_removed_locked(t.key);
  index.remove(n);
  ++unlinking[t.key];
  begin_change_locked(t.dir);
  r.entries.push_back(std::move(t));
}

void disk_store::impl::take_unindexed_locked(detail::disk::removal& r, std::string_view key) {
  const auto name = detail::disk::name_of(key);
  detail::disk::taken_entry t;
  t.key = std::string(key);
  t.path = detail::disk::relative_path(name);
  t.dir = detail::disk::dir_of(name);
  t.unindexed = true;
  note_removed_locked(t.key);
  ++unlinking[t.key];
  begin_change_locked(t.dir);
  r.entries.push_back(std::move(t));
}

asio::awaitable<bool> disk_store::impl::remove_bad(const std::string& path, std::string_view name) {
  {
    std::lock_guard lock(mutex);
    // A put's file replaces the bad one: gone all the same.
    if (put_names_unindexed.contains(name)) co_return true;
    bad_unlinking.emplace(name);
  }
  // Not an entry: nothing to put back if this fails; the next open looks at it again.
  const auto ec = co_await engine->unlinkat(root_fd, path);
  std::vector<std::shared_ptr<detail::disk::removal_waiter>> woken;
  {
    std::lock_guard lock(mutex);
    bad_unlinking.erase(bad_unlinking.find(name));
    woken.swap(removal_waiters);
  }
  for (auto& w : woken)
    (void)w->try_send(std::error_code{}, true);
  co_return !ec || is_errno(ec, ENOENT);
}

void disk_store::impl::note_removed_locked(std::string_view key) {
  if (!indexed) removed_unindexed.emplace(key);
}

asio::awaitable<std::error_code> disk_store::impl::wait_indexed() {
  const auto executor = co_await asio::this_coro::executor;
  std::shared_ptr<detail::disk::removal_waiter> waiter;
  bool start = false;
  {
    std::lock_guard lock(mutex);
    if (indexed) co_return std::error_code{};
    waiter = std::make_shared<detail::disk::removal_waiter>(executor, 1);
    index_waiters.push_back(waiter);
    // index_on_demand: the first caller that needs the index starts its rebuild.
    start = std::exchange(scan_deferred, false);
  }
  if (start) {
    if (auto me = self.lock()) detail::disk::start_scan(std::move(me), scan_executor);
  }
  co_return co_await wait(std::move(waiter));
}

bool disk_store::impl::unlinking_locked(std::string_view key) const {
  return unlinking.find(key) != unlinking.end();
}

bool disk_store::impl::unlinking_prefix_locked(std::string_view prefix) const {
  const auto it = unlinking.lower_bound(prefix);
  return it != unlinking.end() && std::string_view(it->first).starts_with(prefix);
}

bool disk_store::impl::removal_before_locked(std::uint64_t id) const {
  return !removals_in_flight.empty() && *removals_in_flight.begin() < id;
}

std::shared_ptr<detail::disk::removal_waiter> disk_store::impl::add_waiter_locked(
    const asio::any_io_executor& ex) {
  auto w = std::make_shared<detail::disk::removal_waiter>(ex, 1);
  removal_waiters.push_back(w);
  return w;
}

asio::awaitable<std::error_code> disk_store::impl::wait(
    std::shared_ptr<detail::disk::removal_waiter> w) {
  auto [ec, unused] = co_await w->async_receive(asio::experimental::as_tuple(asio::use_awaitable));
  (void)unused;
  if (ec) co_return make_error_code(errc::cancelled);
  co_return std::error_code{};
}

asio::awaitable<std::error_code> disk_store::impl::finish_removal(detail::disk::removal r,
                                                                  std::uint64_t* unlinked) {
  // Each unlink is awaited to its result: a removal that completed has issued all of them
  // and knows how each ended.
  std::vector<std::error_code> results;
  std::vector<bool> removed;  // this unlink took a file (not ENOENT)
  results.reserve(r.entries.size());
  removed.reserve(r.entries.size());
  for (const auto& t : r.entries) {
    auto ec = co_await engine->unlinkat(root_fd, t.path);
    if (!ec && unlinked) ++*unlinked;
    removed.push_back(!ec);
    if (is_errno(ec, ENOENT)) ec = {};  // already gone: removed all the same
    results.push_back(ec);
  }
  std::error_code first;
  std::vector<std::shared_ptr<detail::disk::removal_waiter>> woken;
  {
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < r.entries.size(); ++i) {
      auto& t = r.entries[i];
      end_change_locked(t.dir);
      if (auto it = unlinking.find(t.key); it != unlinking.end() && --it->second == 0)
        unlinking.erase(it);
      if (!results[i]) {
        // The unlink changed the directory: the next flush makes that durable. One that
        // found the file gone syncs it too when the directory exists (another opener's
        // unlink may not be durable yet), but not one never made (an unindexed erase of a
        // key nobody put): its fsync would fail.
        if (removed[i] || dirs_known.test(t.dir)) dirty_dirs[t.dir] = next_seq++;
        continue;
      }
      if (!first) first = results[i];
      if (t.unindexed) {
        // The file is still there and the index never held it: let the scan's finding
        // stand. (Once the scan has merged, such a file stays unindexed until the next
        // open; the erase returns the error, and no saved index vouches for its directory.)
        if (indexed) dirs_incomplete.set(t.dir);
        removed_unindexed.erase(t.key);
        continue;
      }
      // The file is (as far as we know) still there: keep it indexed, unless a put has
      // installed a newer file under the key meanwhile.
      if (index.find(t.key)) continue;
      bool created = false;
      auto* n = index.upsert(t.key, created);
      n->size = t.size;
      n->dir = static_cast<std::uint8_t>(t.dir);
      n->generation = next_generation++;
      bytes += t.size;
      if (t.was_pending) {
        const auto seq = next_seq++;
        pending[t.path] = seq;
        dirty_dirs[t.dir] = seq;
      }
    }
    removals_in_flight.erase(r.id);
    woken.swap(removal_waiters);
  }
  for (auto& w : woken)
    (void)w->try_send(std::error_code{}, true);
  if (first) {
    note_io_error(first);
    counters.add(counter::errors);
  }
  co_return map_error(first);
}

void disk_store::impl::evict_locked(detail::disk::removal& out) {
  // Least recently used means nothing until the scan has merged the older entries.
  if (!indexed) return;
  while (index.least_recent() &&
         (bytes > options.max_bytes ||
          (options.max_entries != 0 && index.size() > options.max_entries))) {
    auto* n = index.least_recent();
    counters.add(counter::evictions);
    counters.add(counter::evicted_bytes, n->size);
    take_locked(out, n);
  }
}

bool disk_store::impl::forget(const std::string& key, std::uint64_t generation) {
  std::lock_guard lock(mutex);
  auto* n = index.find(key);
  if (!n || n->generation != generation) return false;
  pending.erase(detail::disk::relative_path(detail::disk::name_of(key)));
  bytes -= n->size;
  note_removed_locked(key);
  index.remove(n);
  return true;
}

asio::awaitable<result<bool>> disk_store::impl::remove_generation(const std::string& key,
                                                                  std::uint64_t generation) {
  detail::disk::removal r;
  {
    std::lock_guard lock(mutex);
    auto* n = index.find(key);
    if (!n || n->generation != generation) co_return false;
    r = begin_removal_locked();
    take_locked(r, n);
  }
  if (auto ec = co_await finish_removal(std::move(r))) co_return ec;
  co_return true;
}

asio::awaitable<lookup> disk_store::impl::discard(const std::string& key,
                                                  std::uint64_t generation) {
  bump(disk.corrupt);
  counters.add(counter::errors);
  counters.add(counter::misses);
  // A failed unlink keeps the entry (and is counted); the lookup is a miss either way.
  (void)co_await remove_generation(key, generation);
  co_return lookup::miss();
}

// --- the public removals ----------------------------------------------------------------

asio::awaitable<result<bool>> disk_store::erase(key_view key) {
  auto& s = *impl_;
  const std::string k(key);
  const auto executor = co_await asio::this_coro::executor;
  detail::disk::removal r;
  bool was_indexed = false;
  for (;;) {
    std::shared_ptr<detail::disk::removal_waiter> waiter;
    {
      std::lock_guard lock(s.mutex);
      // A removal still unlinking this key's file: wait for it, so that we complete only
      // once the file is gone (and a flush after us makes that durable).
      if (!s.unlinking_locked(k)) {
        auto* n = s.index.find(k);
        // Another opener may have put it: its file is unlinked all the same.
        if (!n && s.indexed && !s.shared()) co_return false;
        r = s.begin_removal_locked();
        was_indexed = n != nullptr;
        if (n)
          s.take_locked(r, n);
        else
          s.take_unindexed_locked(r, k);
        break;
      }
      waiter = s.add_waiter_locked(executor);
    }
    if (auto ec = co_await s.wait(std::move(waiter))) co_return ec;
  }
  std::uint64_t unlinked = 0;
  if (auto ec = co_await s.finish_removal(std::move(r), &unlinked)) co_return ec;
  co_return was_indexed || unlinked > 0;
}

asio::awaitable<result<std::uint64_t>> disk_store::invalidate_prefix(key_view prefix) {
  auto& s = *impl_;
  const std::string p(prefix);
  const auto executor = co_await asio::this_coro::executor;
  // Entries from before the open are matched only once the scan has indexed them.
  if (auto ec = co_await s.wait_indexed()) co_return ec;
  // And what other openers put since this one last looked.
  if (s.shared()) {
    if (auto ec = co_await s.refresh(true)) co_return ec;
  }
  detail::disk::removal r;
  for (;;) {
    std::shared_ptr<detail::disk::removal_waiter> waiter;
    {
      std::lock_guard lock(s.mutex);
      if (!s.unlinking_prefix_locked(p)) {
        r = s.begin_removal_locked();
        for (auto* n : s.index.with_prefix(p))
          s.take_locked(r, n);
        break;
      }
      waiter = s.add_waiter_locked(executor);
    }
    if (auto ec = co_await s.wait(std::move(waiter))) co_return ec;
  }
  const std::uint64_t count = r.entries.size();
  if (auto ec = co_await s.finish_removal(std::move(r))) co_return ec;
  co_return count;
}

}  // namespace larder
