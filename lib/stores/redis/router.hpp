// Requests to a Redis Cluster: a pipeline per master, chosen by the slot map
// (cluster.hpp), MOVED and ASK followed, TRYAGAIN and CLUSTERDOWN retried within the
// request's timeout, and the map read again (CLUSTER SLOTS) after a redirect or a lost
// connection.
#pragma once

#include <asio/awaitable.hpp>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "stores/redis/cluster.hpp"
#include "stores/redis/pipeline.hpp"

namespace larder::redis {

struct router_stats {
  std::atomic<std::uint64_t> moved{0}, asked{0}, retried{0}, refreshes{0}, refresh_failures{0};
};

class router : public std::enable_shared_from_this<router> {
 public:
  // `seed` (settings.connection's host and port) is any node of the cluster.
  router(const asio::any_io_executor& executor, link_settings settings, pipeline_options options,
         std::shared_ptr<link_stats> stats);
  ~router();

  // Reads the slot map in the background (also done on demand).
  void start();
  void shutdown();

  // Runs one command on the master of `slot` and completes with its answer: redirects
  // are followed, so an error here is the command's own (or the last redirect's when
  // the request ran out of time or hops). The caller keeps this router alive.
  asio::awaitable<reply> execute(std::uint16_t slot, std::string text);

  // How many connections subscribe to `channel` on all masters together (PUBSUB NUMSUB
  // on each): the receivers of a PUBLISH, which a cluster delivers to every node while
  // its reply counts the publishing node's only. Masters that do not answer add 0.
  asio::awaitable<long long> subscribers(std::string channel);

  const router_stats& stats() const noexcept { return stats_; }
  std::size_t nodes() const;

 private:
  std::shared_ptr<pipeline> node(const node_address& a);
  std::shared_ptr<pipeline> for_slot(std::uint16_t slot);
  // A CLUSTER SLOTS round trip unless one is under way; the map is replaced on success.
  void refresh_soon();
  asio::awaitable<void> refresh();

  asio::any_io_executor executor_;
  link_settings settings_;
  pipeline_options options_;
  std::shared_ptr<link_stats> link_stats_;
  node_address seed_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<pipeline>> pipes_;  // by node name
  slot_map map_;                                            // guarded by mutex_
  bool have_map_ = false;
  bool shut_down_ = false;
  std::atomic<bool> refreshing_{false};
  router_stats stats_;
};

}  // namespace larder::redis
