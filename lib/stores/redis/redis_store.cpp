#include "larder/redis_store.hpp"

#include <asio/use_awaitable.hpp>
#include <functional>
#include <vector>

#include "larder/invalidation_bus.hpp"
#include "stores/redis/acks.hpp"
#include "stores/redis/format.hpp"
#include "stores/redis/library.hpp"
#include "stores/redis/pipeline.hpp"

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

}  // namespace

struct redis_store::impl {
  impl(const asio::any_io_executor& executor, redis_store_options o)
      : options(std::move(o)),
        names(options.name_space),
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
    for (unsigned i = 0; i < options.connections; ++i) {
      pipes.push_back(std::make_shared<redis::pipeline>(executor, settings, p, stats));
      pipes.back()->start();
    }
  }

  redis::pipeline& pipe_for(key_view key) {
    if (pipes.size() == 1) return *pipes.front();
    return *pipes[std::hash<std::string_view>{}(key) % pipes.size()];
  }

  // The function call's common head: name and keys (the data key, when there is one).
  redis::command fcall(const char* function, const std::string_view* data_key, std::size_t args,
                       std::size_t reserve) {
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
    if (id == 0 || receivers <= 0) co_return;
    const bool complete =
        co_await acks->wait(id, static_cast<std::uint64_t>(receivers), options.timeout);
    if (!complete) ack_timeouts.fetch_add(1, std::memory_order_relaxed);
  }

  // The caller holds a reference to this impl until the co_await completes.
  asio::awaitable<result<bool>> erase(key_view key) {
    const auto id = write_id();
    std::string message = redis::encode_message('k', node, id, key);
    auto cmd = fcall("larder_erase_v1", &key, 4, 2 * key.size() + 128);
    cmd.arg(names.data_prefix).arg(key).arg(names.channel).arg(message);
    std::string text = cmd.take();
    const redis::reply r = co_await pipe_for(key).execute(std::move(text), asio::use_awaitable);
    if (const auto ec = fault_of(r)) {
      counters.add(counter::errors);
      co_return ec;
    }
    gauges(r, 1);
    co_await confirm(id, r.integer_at(3));
    co_return r.integer_at(0) > 0;
  }

  void gauges(const redis::reply& r, std::size_t first) {
    entries.store(static_cast<std::uint64_t>(std::max(0LL, r.integer_at(first))),
                  std::memory_order_relaxed);
    bytes.store(static_cast<std::uint64_t>(std::max(0LL, r.integer_at(first + 1))),
                std::memory_order_relaxed);
  }

  redis_store_options options;
  redis::key_names names;
  std::string node;
  std::shared_ptr<redis::link_stats> stats;
  std::shared_ptr<redis::error_log> errors;
  std::vector<std::shared_ptr<redis::pipeline>> pipes;
  metric_counters counters;
  std::atomic<std::uint64_t> entries{0}, bytes{0}, corrupt{0}, ack_timeouts{0};
  std::shared_ptr<invalidation_bus::acknowledgements> acks;  // set before first use
};

redis_store::redis_store(const asio::any_io_executor& executor, redis_store_options options) {
  if (options.connections == 0 || options.name_space.find_first_of("{}") != std::string::npos)
    throw std::system_error(make_error_code(errc::invalid_argument));
  apply_redis_url(options);  // throws with the URL's problem named
  impl_ = std::make_shared<impl>(executor, std::move(options));
}

redis_store::~redis_store() {
  for (auto& p : impl_->pipes)
    p->shutdown();
}

asio::awaitable<lookup> redis_store::get(key_view key) {
  auto self = impl_;  // the store may go while this waits
  std::string text =
      redis::command(2, key.size() + 32).arg("GET").arg(self->names.data_prefix, key).take();
  const redis::reply r = co_await self->pipe_for(key).execute(std::move(text), asio::use_awaitable);
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
  auto cmd = self->fcall("larder_put_v1", &key, 6, value.size() + 3 * key.size() + 256);
  cmd.arg(self->names.data_prefix)
      .arg(key)
      .arg(std::string_view(header.data(), header.size()), value.view())
      .arg(static_cast<long long>(self->options.ttl.count()))
      .arg(announce ? std::string_view(self->names.channel) : std::string_view())
      .arg(message);
  std::string text = cmd.take();
  const redis::reply r = co_await self->pipe_for(key).execute(std::move(text), asio::use_awaitable);
  if (const auto ec = fault_of(r)) {
    self->counters.add(counter::errors);
    self->counters.add(counter::rejected_puts);
    co_return ec;
  }
  self->gauges(r, 0);
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
  for (;;) {
    auto cmd = self->fcall("larder_invalidate_v1", nullptr, 6, 2 * prefix.size() + 128);
    cmd.arg(self->names.data_prefix)
        .arg(min)
        .arg(max)
        .arg(invalidate_batch)
        .arg(self->names.channel)
        .arg(message);
    std::string text = cmd.take();
    const redis::reply r =
        co_await self->pipe_for(prefix).execute(std::move(text), asio::use_awaitable);
    if (const auto ec = fault_of(r)) {
      self->counters.add(counter::errors);
      co_return ec;
    }
    removed += static_cast<std::uint64_t>(std::max(0LL, r.integer_at(0)));
    self->gauges(r, 2);
    if (r.integer_at(1) == 0) {
      co_await self->confirm(id, r.integer_at(4));
      break;
    }
  }
  co_return removed;
}

metrics_snapshot redis_store::metrics() const noexcept {
  metrics_snapshot out;
  impl_->counters.accumulate_into(out);
  out.entries = impl_->entries.load(std::memory_order_relaxed);
  out.bytes = impl_->bytes.load(std::memory_order_relaxed);
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
