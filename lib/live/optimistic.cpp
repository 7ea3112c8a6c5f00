// Optimistic writes (live_table_options::optimistic_writes): a completed write stores the
// row the master returned, and an update rewrites the cached pages that hold it, instead
// of leaving the next reads to miss.
//
// Why it cannot store a stale row: every rewrite is a fill of the fill guard, begun
// before the write reaches the source. Any change the table learns of from then on
// opens a scope whose tags the fill sees (an event's invalidation, another write's, a
// group invalidation dooms it outright). The write's own invalidation opens exactly one
// scope with the write's own tag, which the rewrite passes over once; a second
// occurrence (an event for the same row from another client) or any other tag that
// concerns the rewritten rows keeps the rewrite out, as it would a fetch's fill. A
// change the table never hears of is a lost event, which the source reports as a
// resync: a group invalidation.
#include "live/core_impl.hpp"

namespace larder::detail {

bool live_core::impl::optimistic(const write_job& job) const {
  if (!options.optimistic_writes || !job.returns_row || job.id.empty()) return false;
  switch (job.kind) {
    case change_kind::updated:
      // An update that may move its row clears the group: nothing would survive it.
      return options.updates_keep_position;
    case change_kind::inserted:
    case change_kind::deleted:
      // Without an order the insert or delete clears the group as well. Its pages shift,
      // so only the row's own entry is rewritten.
      return static_cast<bool>(options.id_order);
    default:
      return false;
  }
}

asio::awaitable<optimistic_fills> live_core::impl::begin_optimistic(const write_job& job) {
  auto self = shared_from_this();
  optimistic_fills out;
  out.id = job.id;
  out.row.emplace(fills, row_key(job.id));
  if (job.kind != change_kind::updated) co_return out;
  std::vector<std::string> keys;
  {
    std::lock_guard lock(index_mutex);
    for (const auto n : index.pages_holding(job.id))
      keys.push_back(page_key(n));
    for (const auto& after : index.cursors_holding(job.id))
      keys.push_back(cursor_key(after));
  }
  out.pages.reserve(keys.size());
  for (auto& key : keys)
    out.pages.push_back(std::make_unique<optimistic_fills::page>(fills, std::move(key)));
  // Read after the tickets began: a change to any of these pages from here on is a tag
  // the ticket sees, so the bytes read below are never older than what it judges.
  for (auto& p : out.pages) {
    if (dirty.load()) break;
    auto found = co_await store.get(p->key);
    if (found.is_fault()) add(live_stat::store_faults);
    if (found.is_hit()) p->bytes = std::move(found).value();
  }
  co_return out;
}

asio::awaitable<void> live_core::impl::land_optimistic(optimistic_fills& f,
                                                       const write_patch& patch, change_kind kind) {
  auto self = shared_from_this();
  const fill_stats stats{live_stat::patches, live_stat::patches_dropped};
  const std::string own = kind == change_kind::updated ? update_tag(f.id) : shift_tag(f.id);
  if (f.row) {
    const std::string key = row_key(f.id);
    co_await install(key, patch.row_entry, *f.row, {}, own, stats);
    f.row.reset();
  }
  for (auto& p : f.pages) {
    if (!p->bytes) {
      p->ticket.end();  // not cached when the write began: its next read fills it
      continue;
    }
    auto rewritten = patch.repage(*p->bytes);
    if (!rewritten) {
      add(live_stat::patches_dropped);
      p->ticket.end();
      continue;
    }
    co_await install(p->key, rewritten->first, p->ticket, rewritten->second, own, stats);
  }
}

}  // namespace larder::detail
