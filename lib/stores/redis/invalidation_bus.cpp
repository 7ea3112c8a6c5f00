#include "larder/invalidation_bus.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "larder/redis_store.hpp"
#include "stores/redis/acks.hpp"
#include "stores/redis/format.hpp"
#include "stores/redis/link.hpp"
#include "stores/redis/pipeline.hpp"
#include "stores/redis/reply.hpp"

namespace larder {
namespace {

struct target {
  any_store store;  // used when stack is null
  std::shared_ptr<layered_store> stack;
  std::size_t local_tiers = 0;
};

struct bus_counters {
  std::atomic<std::uint64_t> messages{0}, own_skipped{0}, applied{0}, apply_errors{0}, drops{0},
      connects{0}, disconnects{0}, connect_failures{0}, acks_sent{0}, setup_failures{0};
  std::atomic<std::int64_t> retry_delay_ms{0};
  std::atomic<bool> subscribed{false};
  std::atomic<std::int64_t> last_applied_ns{0};
};

std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The subscriber connection. Everything runs on its strand.
class bus_link final : public redis::link {
 public:
  bus_link(const asio::any_io_executor& executor, const invalidation_bus_options& options,
           redis::link_settings settings)
      : link(executor, settings),
        options_(options),
        node_(options.node_id.empty() ? default_node_id() : options.node_id),
        channel_(redis::key_names(options.name_space).channel),
        ack_channel_(redis::ack_channel(options.name_space, node_)),
        retry_(strand()),
        backoff_(options.backoff_min),
        setup_backoff_(options.backoff_max),
        acks_(std::make_shared<invalidation_bus::acknowledgements>(strand())) {
    redis::pipeline_options po;
    po.backoff_min = options.backoff_min;
    po.backoff_max = options.backoff_max;
    po.setup_backoff_max = options.setup_backoff_max;
    ack_out_ = std::make_shared<redis::pipeline>(executor, std::move(settings), po,
                                                 std::make_shared<redis::link_stats>());
  }
  ~bus_link() override {
    stopped_ = true;
    close();
  }

  void add(target t) {
    std::lock_guard lock(targets_mutex_);
    targets_.push_back(std::move(t));
  }
  bus_counters& counters() { return counters_; }
  const std::string& node() const { return node_; }
  const std::shared_ptr<invalidation_bus::acknowledgements>& acks() const { return acks_; }

  void begin() {
    ack_out_->start();
    asio::post(strand(), [self = shared()] {
      if (!self->stopped_ && !self->active()) self->connect();
    });
  }
  void end() {
    ack_out_->shutdown();
    asio::post(strand(), [self = shared()] {
      self->stopped_ = true;
      self->retry_.cancel();
      self->close();
    });
  }

 private:
  std::shared_ptr<bus_link> shared() {
    return std::static_pointer_cast<bus_link>(shared_from_this());
  }

  void on_up() override {
    backoff_ = options_.backoff_min;
    setup_backoff_ = options_.backoff_max;
    counters_.connects.fetch_add(1, std::memory_order_relaxed);
    send(redis::command(3).arg("SUBSCRIBE").arg(channel_).arg(ack_channel_).take());
  }
  void on_down(bool was_connected, const redis::failure* why) override {
    const bool refused = why != nullptr && why->misconfigured;
    (was_connected ? counters_.disconnects : counters_.connect_failures)
        .fetch_add(1, std::memory_order_relaxed);
    if (refused) counters_.setup_failures.fetch_add(1, std::memory_order_relaxed);
    if (counters_.subscribed.exchange(false)) drop_everything();
    if (stopped_) return;
    // A refused login or subscription is refused again: back off long (from
    // backoff_max, doubling), never at connection speed.
    std::chrono::milliseconds delay = backoff_;
    if (refused) {
      delay = setup_backoff_;
      setup_backoff_ =
          std::min(setup_backoff_ * 2, std::max(options_.setup_backoff_max, options_.backoff_max));
    } else {
      backoff_ = std::min(backoff_ * 2, options_.backoff_max);
    }
    counters_.retry_delay_ms.store(delay.count(), std::memory_order_relaxed);
    // Never reconnect from inside the link's unwinding: from a timer.
    retry_.expires_after(delay);
    retry_.async_wait([self = shared()](const std::error_code& ec) {
      if (!ec && !self->stopped_ && !self->active()) self->connect();
    });
  }

  void on_reply(redisReply* r) override { on_message(r); }

  void on_message(redisReply* r) {
    if (r->type == REDIS_REPLY_ERROR) {
      // SUBSCRIBE refused (an ACL without these channels): a misconfiguration.
      return fail_now(redis::step::subscribe, std::string(r->str, r->len), true);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
    auto* self = this;
    const redisReply* kind = r->element[0];
    const redisReply* channel = r->element[1];
    const redisReply* payload = r->element[2];
    if (kind == nullptr || kind->type != REDIS_REPLY_STRING || channel == nullptr ||
        payload == nullptr)
      return;
    const std::string_view type(kind->str, kind->len);
    if (type == "subscribe") {
      // Both channels confirmed. Messages published while we were not listening are
      // lost: start from nothing. Subscribed only once the drop is done, so no entry
      // filled before it survives.
      if (payload->type != REDIS_REPLY_INTEGER || payload->integer < 2) return;
      self->counters_.drops.fetch_add(1, std::memory_order_relaxed);
      self->apply('p', std::string(), after::mark_subscribed, {}, 0);
      return;
    }
    if (type != "message" || payload->type != REDIS_REPLY_STRING) return;
    const std::string_view on(channel->str, channel->len);
    const std::string_view bytes(payload->str, payload->len);
    if (on == self->ack_channel_) {
      if (const auto id = redis::decode_id(bytes)) self->acks_->ack(*id);
      return;
    }
    self->counters_.messages.fetch_add(1, std::memory_order_relaxed);
    const auto m = redis::decode_message(bytes);
    if (!m) return;
    if (m->node == self->node_) {
      // Our own stack already removed what it published.
      self->counters_.own_skipped.fetch_add(1, std::memory_order_relaxed);
      if (m->id != 0) self->acks_->ack(m->id);
      return;
    }
    self->apply(m->kind, std::string(m->key), after::stamp, std::string(m->node), m->id);
  }

  void drop_everything() {
    counters_.drops.fetch_add(1, std::memory_order_relaxed);
    apply('p', std::string(), after::nothing, {}, 0);
  }

  enum class after : unsigned char { nothing, stamp, mark_subscribed };

  void apply(char kind, std::string key, after then, std::string sender, std::uint64_t id) {
    std::vector<target> targets;
    {
      std::lock_guard lock(targets_mutex_);
      targets = targets_;
    }
    asio::co_spawn(
        strand(),
        run(shared(), std::move(targets), kind, std::move(key), then, std::move(sender), id),
        asio::detached);
  }

  static asio::awaitable<void> run(std::shared_ptr<bus_link> self, std::vector<target> targets,
                                   char kind, std::string key, after then, std::string sender,
                                   std::uint64_t id) {
    auto& c = self->counters_;
    for (auto& t : targets) {
      bool ok = true;
      if (t.stack) {
        auto r = co_await t.stack->invalidate_prefix_in(key, t.local_tiers);
        ok = r.has_value();
      } else if (kind == 'k') {
        auto r = co_await t.store.erase(key);
        ok = r.has_value();
      } else {
        auto r = co_await t.store.invalidate_prefix(key);
        ok = r.has_value();
      }
      (ok ? c.applied : c.apply_errors).fetch_add(1, std::memory_order_relaxed);
    }
    if (then == after::stamp) c.last_applied_ns.store(steady_ns(), std::memory_order_relaxed);
    if (id != 0) {
      // Applied: the sender's write may complete now.
      auto cmd = redis::command(3, 64);
      cmd.arg("PUBLISH")
          .arg(redis::ack_channel(self->options_.name_space, sender))
          .arg(redis::encode_id(id));
      self->ack_out_->execute(cmd.take(), [](const redis::reply&) {});
      c.acks_sent.fetch_add(1, std::memory_order_relaxed);
    }
    // Only if the connection that subscribed is still there (a loss meanwhile dropped again).
    if (then == after::mark_subscribed && self->connected()) c.subscribed.store(true);
  }

  invalidation_bus_options options_;
  std::string node_;
  std::string channel_;
  std::string ack_channel_;
  asio::steady_timer retry_;
  std::chrono::milliseconds backoff_;
  std::chrono::milliseconds setup_backoff_;
  bool stopped_ = false;  // strand only
  bus_counters counters_;
  std::shared_ptr<invalidation_bus::acknowledgements> acks_;
  std::shared_ptr<redis::pipeline> ack_out_;
  std::mutex targets_mutex_;
  std::vector<target> targets_;
};

}  // namespace

struct invalidation_bus::impl {
  std::shared_ptr<bus_link> link;
  std::shared_ptr<redis::error_log> errors;
};

invalidation_bus::invalidation_bus(const asio::any_io_executor& executor,
                                   invalidation_bus_options options)
    : impl_(std::make_shared<impl>()) {
  if (options.name_space.find_first_of("{}") != std::string::npos)
    throw std::system_error(make_error_code(errc::invalid_argument));
  apply_redis_url(options);
  impl_->errors = std::make_shared<redis::error_log>(options.on_error);
  redis::link_settings settings;
  settings.connection = options;
  settings.wants.select = false;  // pub/sub channels are server-wide
  settings.setup_timeout = options.setup_timeout;
  settings.errors = impl_->errors;
  if (options.tls.enabled) settings.tls = redis::make_tls_context(options.tls);
  impl_->link = std::make_shared<bus_link>(executor, options, std::move(settings));
}

invalidation_bus::~invalidation_bus() {
  impl_->link->end();
}

namespace {

[[noreturn]] void refuse_attach(const std::string& why) {
  throw std::system_error(make_error_code(errc::invalid_argument),
                          "invalidation_bus::attach: " + why);
}

}  // namespace

void invalidation_bus::attach(any_store local) {
  // The shared tier itself would lose every other node's write the moment it arrives.
  if (local.target<redis_store>() != nullptr)
    refuse_attach("store '" + local.name() +
                  "' is a redis_store: the bus keeps node-local stores fresh, it would "
                  "delete every other node's writes from the shared tier");
  impl_->link->add(target{std::move(local), nullptr, 0});
}

void invalidation_bus::attach(std::shared_ptr<layered_store> stack, std::size_t local_tiers) {
  if (!stack) refuse_attach("the stack is null");
  const std::size_t tiers = stack->tier_count();
  if (local_tiers == 0) refuse_attach("local_tiers is 0: no tier to keep fresh");
  if (local_tiers > tiers)
    refuse_attach("local_tiers " + std::to_string(local_tiers) + " is past the stack's " +
                  std::to_string(tiers) + " tiers");
  for (std::size_t i = 0; i < local_tiers; ++i) {
    if (stack->tier(i).target<redis_store>() != nullptr)
      refuse_attach("tier " + std::to_string(i) + " ('" + stack->tier(i).name() +
                    "') is a redis_store, but local_tiers " + std::to_string(local_tiers) +
                    " counts it as node-local: the bus would delete every other node's "
                    "writes from the shared tier (local_tiers must stop above it)");
  }
  auto& first = stack->tier(0);  // any_store has no empty state: hold the first tier
  impl_->link->add(target{first, std::move(stack), local_tiers});
}

void invalidation_bus::start() {
  impl_->link->begin();
}

void invalidation_bus::stop() {
  impl_->link->end();
}

asio::awaitable<bool> invalidation_bus::wait_subscribed(std::chrono::milliseconds limit) {
  auto link = impl_->link;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!link->counters().subscribed.load()) {
    if (std::chrono::steady_clock::now() >= until) co_return false;
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

const std::string& invalidation_bus::node_id() const noexcept {
  return impl_->link->node();
}

std::shared_ptr<invalidation_bus::acknowledgements> invalidation_bus::acks() const noexcept {
  return impl_->link->acks();
}

invalidation_bus_report invalidation_bus::report() const {
  auto& c = impl_->link->counters();
  invalidation_bus_report r;
  r.messages = c.messages.load();
  r.own_skipped = c.own_skipped.load();
  r.applied = c.applied.load();
  r.apply_errors = c.apply_errors.load();
  r.drops = c.drops.load();
  r.connects = c.connects.load();
  r.disconnects = c.disconnects.load();
  r.connect_failures = c.connect_failures.load();
  r.acks_sent = c.acks_sent.load();
  r.setup_failures = c.setup_failures.load();
  r.retry_delay = std::chrono::milliseconds(c.retry_delay_ms.load());
  r.last_error = impl_->errors->last();
  r.subscribed = c.subscribed.load();
  r.last_applied_ns = c.last_applied_ns.load();
  return r;
}

}  // namespace larder
