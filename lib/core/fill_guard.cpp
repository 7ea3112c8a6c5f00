#include "core/fill_guard.hpp"

#include <algorithm>

namespace larder::detail {

namespace {
absl::string_view as_absl(std::string_view s) {
  return {s.data(), s.size()};
}
}  // namespace

bool fill_guard::covers(const scope_state& s, std::string_view key) noexcept {
  return s.exact ? key == s.key : key.starts_with(s.key);
}

fill_guard::id fill_guard::begin_fill(std::string_view key) {
  std::lock_guard lock(mutex_);
  const id f = next_++;
  auto& state = fills_[f];
  state.key = std::string(key);
  // A writer already open over the key: whatever this fill reads may predate it.
  if (auto it = exact_open_.find(as_absl(key)); it != exact_open_.end()) state.doomed = true;
  if (!state.doomed && prefix_open_ > 0) {
    for (const auto& [sid, s] : scopes_)
      if (!s.exact && !s.tagged && covers(s, key)) {
        state.doomed = true;
        break;
      }
  }
  if (!state.doomed && tags_open_ > 0) {
    for (const auto& [sid, s] : scopes_)
      if (s.tagged) state.seen.insert(state.seen.end(), s.tags.begin(), s.tags.end());
    if (state.seen.size() > max_seen_tags) state.doomed = true;
  }
  fills_by_key_[state.key].push_back(f);
  return f;
}

bool fill_guard::try_commit(id fill) {
  std::lock_guard lock(mutex_);
  auto it = fills_.find(fill);
  if (it == fills_.end() || it->second.doomed || it->second.committing) return false;
  // Without a judge, any tag seen may concern this fill.
  if (!it->second.seen.empty()) {
    it->second.doomed = true;
    return false;
  }
  it->second.committing = true;
  return true;
}

bool fill_guard::try_commit(id fill,
                            const std::function<bool(const std::vector<std::string>&)>& stale) {
  std::lock_guard lock(mutex_);
  auto it = fills_.find(fill);
  if (it == fills_.end() || it->second.doomed || it->second.committing) return false;
  if (!it->second.seen.empty() && stale(it->second.seen)) {
    it->second.doomed = true;
    return false;
  }
  it->second.committing = true;
  return true;
}

fill_guard::opened fill_guard::open_tags(std::vector<std::string> tags) {
  std::lock_guard lock(mutex_);
  const id sid = next_++;
  auto& s = scopes_[sid];
  s.exact = false;
  s.tagged = true;
  s.tags = std::move(tags);
  ++tags_open_;
  opened out{sid};
  // Fills in flight are few (one per key being fetched): a walk is cheap.
  for (auto& [f, state] : fills_) {
    if (state.committing) {
      // Its key may hold a tagged row: let it land before the writer removes anything.
      state.waited_by.push_back(sid);
      ++s.pending;
      ++out.waiting;
    } else if (!state.doomed) {
      state.seen.insert(state.seen.end(), s.tags.begin(), s.tags.end());
      if (state.seen.size() > max_seen_tags) {
        state.doomed = true;
        ++out.doomed;
      }
    }
  }
  return out;
}

void fill_guard::end_fill(id fill) {
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(mutex_);
    auto it = fills_.find(fill);
    if (it == fills_.end()) return;
    for (const id sid : it->second.waited_by) {
      auto s = scopes_.find(sid);
      if (s == scopes_.end() || s->second.pending == 0) continue;
      if (--s->second.pending == 0 && s->second.resume)
        ready.push_back(std::move(s->second.resume));
    }
    auto by_key = fills_by_key_.find(as_absl(it->second.key));
    if (by_key != fills_by_key_.end()) {
      std::erase(by_key->second, fill);
      if (by_key->second.empty()) fills_by_key_.erase(by_key);
    }
    fills_.erase(it);
  }
  for (auto& resume : ready)
    resume();
}

fill_guard::opened fill_guard::open(std::string_view key_or_prefix, bool exact) {
  std::lock_guard lock(mutex_);
  const id sid = next_++;
  auto& s = scopes_[sid];
  s.key = std::string(key_or_prefix);
  s.exact = exact;
  opened out{sid};
  auto overlap = [&](id f, fill_state& state) {
    if (state.committing) {
      state.waited_by.push_back(sid);
      ++s.pending;
      ++out.waiting;
    } else if (!state.doomed) {
      state.doomed = true;
      ++out.doomed;
    }
    (void)f;
  };
  if (exact) {
    ++exact_open_[s.key];
    if (auto it = fills_by_key_.find(as_absl(key_or_prefix)); it != fills_by_key_.end())
      for (const id f : it->second)
        overlap(f, fills_.at(f));
  } else {
    ++prefix_open_;
    // Prefix removals are rare and fills in flight few: a walk is cheap.
    for (auto& [f, state] : fills_)
      if (covers(s, state.key)) overlap(f, state);
  }
  return out;
}

bool fill_guard::when_clear(id scope, std::function<void()> resume) {
  std::lock_guard lock(mutex_);
  auto it = scopes_.find(scope);
  if (it == scopes_.end() || it->second.pending == 0) return false;
  it->second.resume = std::move(resume);
  return true;
}

void fill_guard::close(id scope) {
  std::function<void()> dropped;  // destroyed outside the lock: it may own a coroutine frame
  std::lock_guard lock(mutex_);
  auto it = scopes_.find(scope);
  if (it == scopes_.end()) return;
  dropped = std::move(it->second.resume);
  if (it->second.tagged) {
    --tags_open_;
  } else if (it->second.exact) {
    auto count = exact_open_.find(as_absl(it->second.key));
    if (count != exact_open_.end() && --count->second == 0) exact_open_.erase(count);
  } else {
    --prefix_open_;
  }
  // A scope closed before it was clear (its writer gave up) no longer waits: fills still
  // committing will find it gone.
  scopes_.erase(it);
}

std::size_t fill_guard::fills() const {
  std::lock_guard lock(mutex_);
  return fills_.size();
}

std::size_t fill_guard::scopes() const {
  std::lock_guard lock(mutex_);
  return scopes_.size();
}

}  // namespace larder::detail
