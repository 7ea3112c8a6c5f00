// The table's own writes by tag (write_op::tag), so that their echoes in the source's
// change feed are recognised and skipped (docs/live-table.md, "Echoes").
#include "live/core_impl.hpp"

namespace larder::detail {

std::uint64_t live_core::impl::own_begin() {
  std::lock_guard lock(own_mutex);
  const std::uint64_t tag = own_nonce + (++own_next << 1);
  own[tag] = own_write{};
  own_order.push_back(tag);
  while (own_order.size() > options.max_tracked_writes) {
    own.erase(own_order.front());
    own_order.pop_front();
  }
  return tag;
}

bool live_core::impl::own_echo(std::uint64_t tag) {
  if (tag == 0) return false;
  std::lock_guard lock(own_mutex);
  auto it = own.find(tag);
  if (it == own.end()) return false;
  it->second.echoed = true;
  return true;
}

bool live_core::impl::own_end(std::uint64_t tag, bool applied) {
  std::lock_guard lock(own_mutex);
  auto it = own.find(tag);
  if (it == own.end()) return false;
  it->second.done = true;
  if (applied) return false;
  // Not applied: later events with this tag are not ours to skip.
  const bool lost = it->second.echoed;
  own.erase(it);
  return lost;
}

}  // namespace larder::detail
