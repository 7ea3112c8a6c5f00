// redis_store: the shared tier, a Redis server reached through hiredis on the io_context.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "larder/blob.hpp"
#include "larder/lookup.hpp"
#include "larder/metrics.hpp"
#include "larder/redis_connection.hpp"
#include "larder/result.hpp"
#include "larder/store.hpp"

namespace larder {

class invalidation_bus;

/// Where the server is and how to log in (url, or host/port/unix_path, user, password,
/// db, tls): see redis_connection_options.
struct redis_store_options : redis_connection_options {
  /// Every Redis key of the store is `{<name_space>}:...`: the braces are a Redis
  /// Cluster hash tag, so one namespace lives in one slot (one shard) and its index and
  /// data can change together atomically. Must not contain '{' or '}'.
  std::string name_space = "larder";
  /// A Redis Cluster: host and port (or the url) name any one node; the slot map is read
  /// from it (CLUSTER SLOTS), each master gets its own connection, MOVED and ASK are
  /// followed and the map is read again after a redirect or a lost connection. The
  /// namespace is split into `cluster_shards` sub-namespaces `{<name_space>.<i>}`, i
  /// chosen by a hash of the key, so that it spreads over the cluster's masters;
  /// invalidate_prefix visits each of them (cost: matches plus cluster_shards round
  /// trips). `connections` is then per master. db must be 0.
  bool cluster = false;
  unsigned cluster_shards = 16;
  /// Time to live of every entry; zero keeps entries until removed (or evicted by Redis).
  std::chrono::milliseconds ttl{0};
  /// Each request completes within this (with errc::timed_out when no reply came).
  std::chrono::milliseconds timeout{1000};
  /// Connections; a key always uses the same one, so one coroutine's requests on a key
  /// are answered in order. Requests on one connection are pipelined.
  unsigned connections = 1;
  /// After a failed connect or a lost connection, requests fail at once with
  /// errc::backend_unavailable until the backoff passed; it doubles per failure.
  std::chrono::milliseconds backoff_min{10};
  std::chrono::milliseconds backoff_max{1000};
  /// Publish every write (put, erase, invalidate_prefix) on the namespace's invalidation
  /// channel, for the invalidation_bus of the other nodes. Off: only erase and
  /// invalidate_prefix publish.
  bool announce_puts = true;
  /// Identifies this node in published messages, so its own bus skips them; empty:
  /// the process-wide default (invalidation_bus uses the same one).
  std::string node_id{};
  /// At connect, CONFIG GET maxmemory-policy: an allkeys-* policy may evict the index
  /// that invalidate_prefix relies on, so such a server is refused (the connection's
  /// setup fails with the policy named) unless accept_allkeys_eviction is set. A server
  /// that refuses CONFIG (managed Redis often does) is used unchecked, counted in
  /// redis_report::policy_unchecked. See docs/redis.md.
  bool check_eviction_policy = true;
  bool accept_allkeys_eviction = false;
};

/// Faults and connection events, beyond metrics().
struct redis_report {
  std::uint64_t connects = 0;          ///< connections established
  std::uint64_t connect_failures = 0;  ///< attempts that failed
  std::uint64_t disconnects = 0;       ///< established connections that were lost
  std::uint64_t timeouts = 0;          ///< requests failed with errc::timed_out
  std::uint64_t unavailable = 0;       ///< requests failed with errc::backend_unavailable
  std::uint64_t remote_errors = 0;     ///< error replies (errc::remote_error, no_space)
  std::uint64_t out_of_memory = 0;     ///< of those, OOM (maxmemory under noeviction)
  std::uint64_t setup_errors = 0;      ///< FUNCTION LOAD refused (see last_error for why)
  /// Connections whose setup the server refused (wrong password, missing ACL
  /// permission, bad db, refused eviction policy, TLS certificate): retried after
  /// setup backoff, requests meanwhile fail with errc::remote_setup_failed.
  std::uint64_t setup_failures = 0;
  std::uint64_t policy_unchecked = 0;  ///< connections whose CONFIG GET was refused
  std::uint64_t corrupt_values = 0;    ///< values that failed verification (then removed)
  std::uint64_t ack_timeouts = 0;      ///< confirmed writes that gave up waiting for acks
  int connections_up = 0;
  /// Redis Cluster only: redirects followed, retries (TRYAGAIN, CLUSTERDOWN, a lost
  /// master), slot map reads (and those that failed), and masters connected to.
  std::uint64_t moved = 0, asked = 0, retried = 0, map_refreshes = 0, map_refresh_failures = 0;
  std::uint64_t cluster_nodes = 0;
  /// The latest error in words: the step (connect, tls handshake, auth, select,
  /// maxmemory-policy check, function load, command), the server, and the server's
  /// answer, e.g. "auth on 127.0.0.1:6380: WRONGPASS invalid username-password pair ...".
  std::string last_error;
};

/// A store in a Redis server (7 or newer: it loads a small function library).
///
/// - Values are stored with a 16-byte header (magic and version, length, and 8 bytes of
///   BLAKE3 over the length-framed key and the value) that get verifies: a value that
///   fails is counted (redis_report::corrupt_values, metrics().errors), removed, and
///   reported as a miss; wrong bytes are never returned.
/// - invalidate_prefix finds the keys through a lexicographic index (a sorted set per
///   namespace), so its cost is O(log N + matches), in batches of 512 per round trip.
/// - A request that fails (no connection, timeout, error reply) is a fault: get returns
///   lookup::fault, the others return the error; all are counted in metrics().errors.
///   A layered_store therefore falls through to its other tiers.
/// - metrics().entries and bytes are the namespace's gauges as Redis reported them with
///   the latest write reply (they include other nodes' writes).
///
/// Operations may be called from coroutines on any threads. Each suspends until its
/// reply (or fault) arrives and resumes on the caller's executor; none is cancellable,
/// but each completes within `timeout` (an invalidate_prefix of many batches, within
/// `timeout` per batch; a confirmed write, see confirm_with, may wait `timeout` more for
/// its acknowledgements). Keys and prefixes are views that must stay valid until the
/// co_await completes, as for every store. The store may be destroyed while operations
/// are pending: they complete with errc::shut_down. The executor's context must outlive
/// the store.
class redis_store {
 public:
  /// Starts connecting at once; operations issued before the connection is up wait for
  /// it (within their timeout). Throws std::system_error(errc::invalid_argument) for a
  /// name_space with braces, zero connections, a malformed url or unreadable TLS files
  /// (what() names the problem).
  redis_store(const asio::any_io_executor& executor, redis_store_options options);
  ~redis_store();
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  asio::awaitable<lookup> get(key_view key);
  /// errc::value_too_large beyond max_value_size.
  asio::awaitable<std::error_code> put(key_view key, blob value);
  asio::awaitable<result<bool>> erase(key_view key);
  /// Redis is a volatile tier here (its own persistence is the server's business):
  /// completes at once with success.
  asio::awaitable<std::error_code> flush();
  asio::awaitable<result<std::uint64_t>> invalidate_prefix(key_view prefix);

  /// Confirmed invalidations: from now on every write (put with announce_puts, erase,
  /// invalidate_prefix) completes only after every node whose bus received its message
  /// has applied it to its local tiers, or after `timeout` (counted in
  /// redis_report::ack_timeouts; the write itself stands). So once a write completes
  /// here, the next read on any other node is fresh. Adopts the bus's node id. Call
  /// before the first operation, with the bus started (its own subscription collects
  /// the acks: while it is down, confirmed writes wait out `timeout`).
  void confirm_with(const invalidation_bus& bus);

  metrics_snapshot metrics() const noexcept;
  redis_report report() const;
  const redis_store_options& options() const noexcept;

  /// Redis' limit on one bulk string (512 MiB) less the header.
  static constexpr std::size_t max_value_size = (512u << 20) - 16;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

static_assert(store<redis_store>);

/// The node id used when an option leaves it empty: random, fixed for the process.
const std::string& default_node_id();

}  // namespace larder
