#include "stores/redis/router.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

namespace larder::redis {

router::router(const asio::any_io_executor& executor, link_settings settings,
               pipeline_options options, std::shared_ptr<link_stats> stats)
    : executor_(executor),
      settings_(std::move(settings)),
      options_(options),
      link_stats_(std::move(stats)) {
  seed_.host = settings_.connection.host;
  seed_.port = settings_.connection.port;
  settings_.connection.url.clear();
  settings_.connection.unix_path.clear();
  settings_.wants.select = false;  // a cluster has database 0 only
}

router::~router() {
  shutdown();
}

void router::start() {
  node(seed_);
  refresh_soon();
}

void router::shutdown() {
  std::map<std::string, std::shared_ptr<pipeline>> pipes;
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    pipes = pipes_;
  }
  for (auto& [name, p] : pipes)
    p->shutdown();
}

std::size_t router::nodes() const {
  std::lock_guard lock(mutex_);
  return pipes_.size();
}

std::shared_ptr<pipeline> router::node(const node_address& a) {
  const std::string name = a.name();
  std::lock_guard lock(mutex_);
  auto it = pipes_.find(name);
  if (it != pipes_.end()) return it->second;
  link_settings s = settings_;
  s.connection.host = a.host;
  s.connection.port = a.port;
  auto p = std::make_shared<pipeline>(executor_, std::move(s), options_, link_stats_);
  if (shut_down_)
    p->shutdown();
  else
    p->start();
  pipes_.emplace(name, p);
  return p;
}

std::shared_ptr<pipeline> router::for_slot(std::uint16_t slot) {
  node_address a = seed_;
  {
    std::lock_guard lock(mutex_);
    if (have_map_)
      if (const auto* m = map_.master_of(slot)) a = *m;
  }
  return node(a);
}

void router::refresh_soon() {
  if (refreshing_.exchange(true)) return;
  asio::co_spawn(
      executor_, [self = shared_from_this()]() { return self->refresh(); }, asio::detached);
}

asio::awaitable<void> router::refresh() {
  stats_.refreshes.fetch_add(1, std::memory_order_relaxed);
  // Ask the known masters in turn, the seed last: any node answers for the cluster.
  std::vector<node_address> candidates;
  {
    std::lock_guard lock(mutex_);
    if (have_map_) candidates = map_.masters;
  }
  candidates.push_back(seed_);
  bool done = false;
  for (const auto& a : candidates) {
    auto p = node(a);
    const reply r =
        co_await p->execute(command(2).arg("CLUSTER").arg("SLOTS").take(), asio::use_awaitable);
    if (r.fault) continue;
    auto parsed = parse_cluster_slots(r, a.host);
    if (!parsed.map) {
      settings_.errors->record(describe_error(step::command, a.name(), parsed.error));
      continue;
    }
    std::lock_guard lock(mutex_);
    map_ = std::move(*parsed.map);
    have_map_ = true;
    done = true;
    break;
  }
  if (!done) stats_.refresh_failures.fetch_add(1, std::memory_order_relaxed);
  refreshing_.store(false);
}

asio::awaitable<long long> router::subscribers(std::string channel) {
  auto self = shared_from_this();
  std::vector<node_address> masters;
  {
    std::lock_guard lock(mutex_);
    masters = have_map_ ? map_.masters : std::vector<node_address>{seed_};
  }
  // All asked at once, then the answers summed.
  std::vector<std::shared_ptr<pipeline>> pipes;
  for (const auto& a : masters)
    pipes.push_back(node(a));
  long long total = 0;
  for (auto& p : pipes) {
    const reply r = co_await p->execute(
        command(3, channel.size() + 32).arg("PUBSUB").arg("NUMSUB").arg(channel).take(),
        asio::use_awaitable);
    total += std::max(0LL, r.integer_at(1));
  }
  co_return total;
}

asio::awaitable<reply> router::execute(std::uint16_t slot, std::string text) {
  auto self = shared_from_this();
  const auto deadline = clock::now() + options_.timeout;
  auto target = for_slot(slot);
  bool asking = false;
  asio::steady_timer pause(co_await asio::this_coro::executor);
  int hops = 0;  // MOVED and ASK followed; waits (TRYAGAIN, ...) are bounded by time only
  for (;;) {
    std::string copy = text;  // kept for a resend
    reply r;
    if (asking)
      r = co_await target->execute_asking(std::move(copy), asio::use_awaitable);
    else
      r = co_await target->execute(std::move(copy), asio::use_awaitable);
    asking = false;
    const bool last = hops >= 16 || clock::now() >= deadline;
    if (r.fault) {
      // A lost or refused connection may be a failed master: read the map again and try
      // wherever it now says (the request's own timeout still bounds the whole).
      if (r.fault != make_error_code(errc::backend_unavailable) || last) co_return r;
      refresh_soon();
      stats_.retried.fetch_add(1, std::memory_order_relaxed);
      pause.expires_after(std::chrono::milliseconds(20));
      co_await pause.async_wait(asio::use_awaitable);
      target = for_slot(slot);
      continue;
    }
    if (r.type != reply::kind::error) co_return r;
    const auto d = classify_redirect(r.bytes.view(), target->settings().connection.host);
    if (d.what == redirect::kind::none || last) {
      if (d.what != redirect::kind::none)
        settings_.errors->record(
            describe_error(step::command, target->endpoint_name(), r.bytes.view()));
      co_return r;
    }
    switch (d.what) {
      case redirect::kind::moved:
        ++hops;
        stats_.moved.fetch_add(1, std::memory_order_relaxed);
        {
          // Point the slot at its new owner now; the full map follows in the background.
          std::lock_guard lock(mutex_);
          std::int16_t index = -1;
          for (std::size_t m = 0; m < map_.masters.size(); ++m)
            if (map_.masters[m] == d.to) index = static_cast<std::int16_t>(m);
          if (index < 0) {
            index = static_cast<std::int16_t>(map_.masters.size());
            map_.masters.push_back(d.to);
          }
          map_.owner[d.slot] = index;
          have_map_ = true;
        }
        refresh_soon();
        target = node(d.to);
        break;
      case redirect::kind::ask:
        ++hops;
        stats_.asked.fetch_add(1, std::memory_order_relaxed);
        target = node(d.to);
        asking = true;
        break;
      default:  // TRYAGAIN, CLUSTERDOWN: the slot is moving or being failed over
        stats_.retried.fetch_add(1, std::memory_order_relaxed);
        if (d.what == redirect::kind::cluster_down) refresh_soon();
        pause.expires_after(std::chrono::milliseconds(10));
        co_await pause.async_wait(asio::use_awaitable);
        target = for_slot(slot);
        break;
    }
  }
}

}  // namespace larder::redis
