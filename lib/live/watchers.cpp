// watch(): the table's change stream to dashboards. A full channel never blocks the
// table; its watcher is owed one `lagged` instead.
#include <asio/experimental/channel_error.hpp>

#include "live/core_impl.hpp"

namespace larder::detail {

std::shared_ptr<watch_channel> live_core::watch(const asio::any_io_executor& executor) {
  auto& self = *impl_;
  auto channel = std::make_shared<watch_channel>(executor, self.options.watch_capacity);
  std::lock_guard lock(self.watch_mutex);
  if (self.watchers_closed)
    channel->close();
  else
    self.watchers.push_back({channel, false});
  return channel;
}

void live_core::impl::publish(const live_notification& note) {
  std::lock_guard lock(watch_mutex);
  std::erase_if(watchers, [](const watcher& w) { return w.channel.expired(); });
  for (auto& w : watchers) {
    auto channel = w.channel.lock();
    if (!channel) continue;
    // A full channel never blocks the table: the watcher is owed one `lagged` (reload
    // everything) instead of the notifications it missed.
    if (w.lagged) {
      if (!channel->try_send(std::error_code{},
                             live_notification{change_kind::lagged, {}, note.generation})) {
        add(live_stat::watch_lagged);
        continue;
      }
      w.lagged = false;
    }
    if (!channel->try_send(std::error_code{}, note)) {
      w.lagged = true;
      add(live_stat::watch_lagged);
    }
  }
}

void live_core::impl::close_watchers() {
  std::lock_guard lock(watch_mutex);
  watchers_closed = true;
  // close() would discard what a watcher has not read yet: end the stream with a final
  // channel_closed message behind it instead, and close only a channel that is full.
  const auto closed = make_error_code(asio::experimental::error::channel_closed);
  for (auto& w : watchers)
    if (auto channel = w.channel.lock(); channel && !channel->try_send(closed, live_notification{}))
      channel->close();
  watchers.clear();
}

}  // namespace larder::detail
