#include "larder/redis_store.hpp"

#include <asio/use_awaitable.hpp>
#include <functional>
#include <vector>

#include "larder/invalidation_bus.hpp"
#include "stores/redis/acks.hpp"
#include "stores/redis/format.hpp"
#include "stores/redis/library.hpp"
#include "stores/redis/pipeline.hpp"
#include "stores/redis/router.hpp"

namespace larder {
namespace {

constexpr long long invalidate_batch = 512;

// The ZRANGEBYLEX bounds of every member that starts with `prefix`: from "[prefix" to
// just before its successor (the prefix with trailing 0xff bytes dropped and its last
// byte incremented), or to "+" when there is none.
std::pair<std::string, std::string> lex_range(std::string_view prefix) {
  if (prefix.empty()) return {"-", "+"};
  std::string upper(prefix);
  while (!upper.empty() && static_cast<unsigned char>(upper.back()) == 0xff)
    upper.pop_back();
  std::string max = "+";
  if (!upper.empty()) {
    upper.back() = static_cast<char>(static_cast<unsigned char>(upper.back()) + 1);
    max = "(" + upper;
  }
  return {"[" + std::string(prefix), std::move(max)};
}

std::error_code fault_of(const redis::reply& r) {
  if (r.fault) return r.fault;
  if (r.type == redis::reply::kind::error)
    return make_error_code(redis::classify_command_error(r.bytes.view()));
  return {};
}

// Which sub-namespace a key belongs to: a hash that every process computes alike (the
// key must land in the same one on every node), FNV-1a.
std::size_t fnv1a(std::string_view key) {
  std::uint64_t h = 1469598103934665603ull;
  for (const char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return static_cast<std::size_t>(h);
}

}  // namespace

struct redis_store::impl {
  impl(const asio::any_io_executor& executor, redis_store_options o)
      : options(std::move(o)),
        node(options.node_id.empty() ? default_node_id() : options.node_id),
        stats(std::make_shared<redis::link_stats>()),
        errors(std::make_shared<redis::error_log>(options.on_error)) {
    redis::pipeline_options p;
    p.timeout = options.timeout;
    p.backoff_min = options.backoff_min;
    p.backoff_max = options.backoff_max;
    p.setup_backoff_max = options.setup_backoff_max;
    redis::link_settings settings;
    settings.connection = options;
    settings.wants.check_policy = options.check_eviction_policy;
    settings.wants.accept_allkeys = options.accept_allkeys_eviction;
    // Loaded on every new connection, so the library exists before any FCALL needs it,
    // even right after a restarted server lost it.
    settings.wants.function_library = redis::library_source;
    settings.setup_timeout = options.timeout;
    settings.errors = errors;
    if (options.tls.enabled) settings.tls = redis::make_tls_context(options.tls);
    const unsigned shards = options.cluster ? options.cluster_shards : 1;
    for (unsigned i = 0; i < shards; ++i) {
      subs.emplace_back(options.cluster ? options.name_space + "." + std::to_string(i)
                                        : options.name_space);
      subs.back().channel = redis::key_names(options.name_space).channel;  // one per namespace
      slots.push_back(redis::key_slot(subs.back().index));
    }
    entries = std::make_unique<std::atomic<std::uint64_t>[]>(shards);
    bytes = std::make_unique<std::atomic<std::uint64_t>[]>(shards);
    if (options.cluster) {
      // connections per master is not offered yet: one pipeline per master.
      router = std::make_shared<redis::router>(executor, settings, p, stats);
      router->start();
      return;
    }
    for (unsigned i = 0; i < options.connections; ++i) {
      pipes.push_back(std::make_shared<redis::pipeline>(executor, settings, p, stats));
      pipes.back()->start();
    }
  }

  redis::pipeline& pipe_for(key_view key) {
    if (pipes.size() == 1) return *pipes.front();
    return *pipes[std::hash<std::string_view>{}(key) % pipes.size()];
  }

  std::size_t sub_of(key_view key) const { return subs.size() == 1 ? 0 : fnv1a(key) % subs.size(); }

  // Sends a command about `key` (or a prefix) of sub-namespace `sub`: through the
  // cluster's router, or on the key's connection.
  asio::awaitable<redis::reply> run(std::size_t sub, key_view key, std::string text) {
    if (router) co_return co_await router->execute(slots[sub], std::move(text));
    co_return co_await pipe_for(key).execute(std::move(text), asio::use_awaitable);
  }

  // The function call's common head: name and keys (the data key, when there is one).
  redis::command fcall(const redis::key_names& names, const char* function,
                       const std::string_view* data_key, std::size_t args, std::size_t reserve) {
    redis::command cmd(3 + (data_key ? 5 : 4) + args, reserve);
    cmd.arg("FCALL").arg(function).arg(data_key ? "5" : "4");
    cmd.arg(names.index).arg(names.ttl).arg(names.sizes).arg(names.bytes);
    if (data_key) cmd.arg(names.data_prefix, *data_key);
    return cmd;
  }

  // A fresh write id when writes are confirmed, else 0.
  std::uint64_t write_id() const { return acks ? acks->next_id() : 0; }

  // Waits for the acknowledgements of write `id`, which `receivers` subscribers got.
  asio::awaitable<void> confirm(std::uint64_t id, long long receivers) {
    if (id == 0) co_return;
    // In a cluster PUBLISH reaches the subscribers of every node but its reply counts
    // only the publishing node's: count them on every master, after the publish (a bus
    // that subscribed later than the message dropped everything when it subscribed).
    if (router) receivers = co_await router->subscribers(subs.front().channel);
    if (receivers <= 0) co_return;
    const bool complete =
        co_await acks->wait(id, static_cast<std::uint64_t>(receivers), options.timeout);
    if (!complete) ack_timeouts.fetch_add(1, std::memory_order_relaxed);
  }

  // The caller holds a reference to this impl until the co_await completes.
  asio::awaitable<result<bool>> erase(key_view key) {
    const auto id = write_id();
    std::string message = redis::encode_message('k', node, id, key);
    const std::size_t sub = sub_of(key);
    const auto& names = subs[sub];
    auto cmd = fcall(names, "larder_erase_v1", &key, 4, 2 * key.size() + 128);
    cmd.arg(names.data_prefix).arg(key).arg(names.channel).arg(message);
    const redis::reply r = co_await run(sub, key, cmd.take());
    if (const auto ec = fault_of(r)) {
      counters.add(counter::errors);
      co_return ec;
    }
    gauges(sub, r, 1);
    co_await confirm(id, r.integer_at(3));
    co_return r.integer_at(0) > 0;
  }

  void gauges(std::size_t sub, const redis::reply& r, std::size_t first) {
    entries[sub].store(static_cast<std::uint64_t>(std::max(0LL, r.integer_at(first))),
                       std::memory_order_relaxed);
    bytes[sub].store(static_cast<std::uint64_t>(std::max(0LL, r.integer_at(first + 1))),
                     std::memory_order_relaxed);
  }

  redis_store_options options;
  std::vector<redis::key_names> subs;  // one, or cluster_shards in a cluster
  std::vector<std::uint16_t> slots;    // the cluster slot of each
  std::shared_ptr<redis::router> router;
  std::string node;
  std::shared_ptr<redis::link_stats> stats;
  std::shared_ptr<redis::error_log> errors;
  std::vector<std::shared_ptr<redis::pipeline>> pipes;
  metric_counters counters;
  std::unique_ptr<std::atomic<std::uint64_t>[]> entries, bytes;  // per sub-namespace
  std::atomic<std::uint64_t> corrupt{0}, ack_timeouts{0};
  std::shared_ptr<invalidation_bus::acknowledgements> acks;  // set before first use
};

redis_store::redis_store(const asio::any_io_executor& executor, redis_store_options options) {
  if (options.connections == 0 || options.name_space.find_first_of("{}") != std::string::npos)
    throw std::system_error(make_error_code(errc::invalid_argument));
  apply_redis_url(options);  // throws with the URL's problem named
  if (options.cluster && (options.cluster_shards == 0 || options.cluster_shards > 16384))
    throw std::system_error(make_error_code(errc::invalid_argument),
                            "redis_store: cluster_shards must be 1 to 16384");
  if (options.cluster && (options.db != 0 || !options.unix_path.empty()))
    throw std::system_error(make_error_code(errc::invalid_argument),
                            "redis_store: a cluster has only db 0 and is reached over TCP");
  impl_ = std::make_shared<impl>(executor, std::move(options));
}

redis_store::~redis_store() {
  if (impl_->router) impl_->router->shutdown();
  for (auto& p : impl_->pipes)
    p->shutdown();
}

asio::awaitable<lookup> redis_store::get(key_view key) {
  auto self = impl_;  // the store may go while this waits
  const std::size_t sub = self->sub_of(key);
  std::string text =
      redis::command(2, key.size() + 32).arg("GET").arg(self->subs[sub].data_prefix, key).take();
  const redis::reply r = co_await self->run(sub, key, std::move(text));
  if (const auto ec = fault_of(r)) {
    self->counters.add(counter::errors);
    self->counters.add(counter::lookup_faults);
    co_return lookup::fault(ec);
  }
  if (r.type == redis::reply::kind::nil) {
    self->counters.add(counter::misses);
    co_return lookup::miss();
  }
  if (r.type == redis::reply::kind::string) {
    if (auto value = redis::open_value(key, r.bytes)) {
      self->counters.add(counter::hits);
      co_return lookup::hit(std::move(*value));
    }
  }
  // Wrong bytes are never handed out: count, remove, and report a miss.
  self->corrupt.fetch_add(1, std::memory_order_relaxed);
  self->counters.add(counter::errors);
  self->counters.add(counter::misses);
  (void)co_await self->erase(key);
  co_return lookup::miss();
}

asio::awaitable<std::error_code> redis_store::put(key_view key, blob value) {
  auto self = impl_;
  if (value.size() > max_value_size) {
    self->counters.add(counter::rejected_puts);
    co_return make_error_code(errc::value_too_large);
  }
  const auto header = redis::value_header(key, value.view());
  const bool announce = self->options.announce_puts;
  const auto id = announce ? self->write_id() : 0;
  std::string message = announce ? redis::encode_message('k', self->node, id, key) : std::string();
  const std::size_t sub = self->sub_of(key);
  const auto& names = self->subs[sub];
  auto cmd = self->fcall(names, "larder_put_v1", &key, 6, value.size() + 3 * key.size() + 256);
  cmd.arg(names.data_prefix)
      .arg(key)
      .arg(std::string_view(header.data(), header.size()), value.view())
      .arg(static_cast<long long>(self->options.ttl.count()))
      .arg(announce ? std::string_view(names.channel) : std::string_view())
      .arg(message);
  const redis::reply r = co_await self->run(sub, key, cmd.take());
  if (const auto ec = fault_of(r)) {
    self->counters.add(counter::errors);
    self->counters.add(counter::rejected_puts);
    co_return ec;
  }
  self->gauges(sub, r, 0);
  co_await self->confirm(id, r.integer_at(2));
  self->counters.add(counter::puts);
  co_return std::error_code{};
}

asio::awaitable<result<bool>> redis_store::erase(key_view key) {
  auto self = impl_;
  co_return co_await self->erase(key);
}

asio::awaitable<std::error_code> redis_store::flush() {
  impl_->counters.add(counter::flushes);
  co_return std::error_code{};
}

asio::awaitable<result<std::uint64_t>> redis_store::invalidate_prefix(key_view prefix) {
  auto self = impl_;
  const auto [min, max] = lex_range(prefix);
  const auto id = self->write_id();
  std::string message = redis::encode_message('p', self->node, id, prefix);
  std::uint64_t removed = 0;
  // Every sub-namespace in turn (a key may be in any); only the last one's final batch
  // publishes, so that other nodes drop their copies once Redis has none left.
  for (std::size_t sub = 0; sub < self->subs.size(); ++sub) {
    const auto& names = self->subs[sub];
    const bool last = sub + 1 == self->subs.size();
    for (;;) {
      auto cmd = self->fcall(names, "larder_invalidate_v1", nullptr, 6, 2 * prefix.size() + 128);
      cmd.arg(names.data_prefix)
          .arg(min)
          .arg(max)
          .arg(invalidate_batch)
          .arg(last ? std::string_view(names.channel) : std::string_view())
          .arg(message);
      const redis::reply r = co_await self->run(sub, prefix, cmd.take());
      if (const auto ec = fault_of(r)) {
        self->counters.add(counter::errors);
        co_return ec;
      }
      removed += static_cast<std::uint64_t>(std::max(0LL, r.integer_at(0)));
      self->gauges(sub, r, 2);
      if (r.integer_at(1) == 0) {
        if (last) co_await self->confirm(id, r.integer_at(4));
        break;
      }
    }
  }
  co_return removed;
}

metrics_snapshot redis_store::metrics() const noexcept {
  metrics_snapshot out;
  impl_->counters.accumulate_into(out);
  for (std::size_t i = 0; i < impl_->subs.size(); ++i) {
    out.entries += impl_->entries[i].load(std::memory_order_relaxed);
    out.bytes += impl_->bytes[i].load(std::memory_order_relaxed);
  }
  return out;
}

redis_report redis_store::report() const {
  const auto& s = *impl_->stats;
  redis_report r;
  r.connects = s.connects.load(std::memory_order_relaxed);
  r.connect_failures = s.connect_failures.load(std::memory_order_relaxed);
  r.disconnects = s.disconnects.load(std::memory_order_relaxed);
  r.timeouts = s.timeouts.load(std::memory_order_relaxed);
  r.unavailable = s.unavailable.load(std::memory_order_relaxed);
  r.remote_errors = s.remote_errors.load(std::memory_order_relaxed);
  r.setup_errors = s.setup_errors.load(std::memory_order_relaxed);
  r.setup_failures = s.setup_failures.load(std::memory_order_relaxed);
  r.policy_unchecked = s.policy_unchecked.load(std::memory_order_relaxed);
  r.out_of_memory = s.no_space.load(std::memory_order_relaxed);
  r.last_error = impl_->errors->last();
  r.corrupt_values = impl_->corrupt.load(std::memory_order_relaxed);
  r.ack_timeouts = impl_->ack_timeouts.load(std::memory_order_relaxed);
  r.connections_up = s.up.load(std::memory_order_relaxed);
  if (const auto& router = impl_->router) {
    const auto& c = router->stats();
    r.moved = c.moved.load(std::memory_order_relaxed);
    r.asked = c.asked.load(std::memory_order_relaxed);
    r.retried = c.retried.load(std::memory_order_relaxed);
    r.map_refreshes = c.refreshes.load(std::memory_order_relaxed);
    r.map_refresh_failures = c.refresh_failures.load(std::memory_order_relaxed);
    r.cluster_nodes = router->nodes();
  }
  return r;
}

void redis_store::confirm_with(const invalidation_bus& bus) {
  impl_->node = bus.node_id();
  impl_->acks = bus.acks();
}

const redis_store_options& redis_store::options() const noexcept {
  return impl_->options;
}

}  // namespace larder
