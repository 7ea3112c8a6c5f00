// invalidation_bus: keeps a node's local tiers fresh when other nodes change the shared
// Redis tier.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "larder/any_store.hpp"
#include "larder/layered_store.hpp"
#include "larder/redis_connection.hpp"

namespace larder {

/// The server and login (url or fields, as for redis_store; db does not matter to
/// pub/sub, whose channels are server-wide).
struct invalidation_bus_options : redis_connection_options {
  /// The redis_store namespace whose writes this bus follows.
  std::string name_space = "larder";
  /// This node's id; messages carrying it are skipped (the node's own stack already
  /// removed what it published). Empty: default_node_id(), as redis_store uses.
  std::string node_id{};
  std::chrono::milliseconds backoff_min{10};
  std::chrono::milliseconds backoff_max{1000};
  /// Connect, TLS handshake and AUTH must complete within this.
  std::chrono::milliseconds setup_timeout{1000};
};

struct invalidation_bus_report {
  std::uint64_t messages = 0;      ///< invalidation messages received
  std::uint64_t own_skipped = 0;   ///< of those, published by this node
  std::uint64_t applied = 0;       ///< removals made in local targets
  std::uint64_t apply_errors = 0;  ///< removals a local target failed
  std::uint64_t drops = 0;         ///< times every local entry was dropped (see below)
  std::uint64_t connects = 0;
  std::uint64_t disconnects = 0;
  std::uint64_t connect_failures = 0;
  std::uint64_t acks_sent = 0;  ///< acknowledgements published to other nodes
  /// Connections the server refused at setup (wrong password, missing ACL permission,
  /// TLS certificate, SUBSCRIBE refused): retried after a delay that starts at
  /// backoff_max and doubles up to setup_backoff_max.
  std::uint64_t setup_failures = 0;
  std::chrono::milliseconds retry_delay{0};  ///< the delay before the latest retry
  /// The latest error in words: step, server and the server's answer.
  std::string last_error;
  bool subscribed = false;
  /// steady_clock time (ns since its epoch) at which the latest message was applied.
  std::int64_t last_applied_ns = 0;
};

/// Listens on the namespace's invalidation channel (Redis pub/sub, on its own
/// connection) and applies every other node's removals to this node's local tiers
/// within a Redis round trip plus a loop turn (well under 10 ms on loopback).
///
/// redis_store publishes in the same atomic step as its change: a put or erase of a key
/// ('k'), and the end of an invalidate_prefix ('p'). A key message erases the key from
/// an any_store target; on a layered_store target it invalidates the key as a prefix
/// (which may also drop longer keys that start with it: safe, only a lost hit).
///
/// Freshness across losses: while the subscription is down, messages are lost, so every
/// local entry is dropped when the connection goes and again when the subscription is
/// back (entries filled meanwhile may already be stale). No stale entry survives a
/// reconnect. The connection reconnects with backoff on its own.
///
/// Threading and lifetimes: messages are handled on the bus's strand and removals run as
/// coroutines on it; targets are shared with the bus and live as long as it needs them.
/// A started bus keeps its io_context busy (it always waits for messages) until stop()
/// or destruction; stop() closes the connection on the strand and returns at once. Like
/// any loss of the subscription, stopping drops every local entry (nothing keeps them
/// fresh any more).
class invalidation_bus {
 public:
  invalidation_bus(const asio::any_io_executor& executor, invalidation_bus_options options);
  ~invalidation_bus();
  invalidation_bus(const invalidation_bus&) = delete;
  invalidation_bus& operator=(const invalidation_bus&) = delete;

  /// A local store to keep fresh: removals go to its erase and invalidate_prefix.
  /// Throws std::system_error(errc::invalid_argument) for a redis_store (the shared
  /// tier itself: the bus would delete every other node's writes).
  void attach(any_store local);
  /// A stack whose first `local_tiers` tiers are node-local (memory, disk) and whose
  /// lower tiers are shared: removals go to layered_store::invalidate_prefix_in, which
  /// also withdraws promotions in flight, so a fill of a value read before another
  /// node's write never lands after its invalidation. Throws
  /// std::system_error(errc::invalid_argument), what() naming the problem, for a null
  /// stack, local_tiers 0 or past the stack's tier count, or a redis_store among the
  /// first local_tiers tiers.
  void attach(std::shared_ptr<layered_store> stack, std::size_t local_tiers);

  /// Connects and subscribes (any thread). Attach targets before.
  void start();
  void stop();

  /// Completes with true once subscribed, false after `limit` without (polls each ms).
  asio::awaitable<bool> wait_subscribed(std::chrono::milliseconds limit);

  invalidation_bus_report report() const;
  const std::string& node_id() const noexcept;

  /// The writer's side of confirmed invalidations, for redis_store::confirm_with: every
  /// bus acknowledges each message once it has applied it (its own at once), on the
  /// sending node's ack channel, and this node's bus collects the acks for its writes.
  class acknowledgements;
  std::shared_ptr<acknowledgements> acks() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace larder
