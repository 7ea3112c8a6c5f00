// A private Redis Cluster for a test: three masters (redis_server with
// --cluster-enabled), joined by `redis-cli --cluster create`, and the slot moves a
// reshard makes (CLUSTER SETSLOT IMPORTING / MIGRATING, MIGRATE key by key, SETSLOT
// NODE). Exits 77 (skipped) without redis-cli.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/redis_server.hpp"

namespace larder::testing {

class redis_cluster {
 public:
  explicit redis_cluster(int masters = 3) {
    if (std::system("command -v redis-cli >/dev/null 2>&1") != 0) {
      std::fprintf(stderr, "redis-cli not found: skipping\n");
      std::exit(77);
    }
    for (int i = 0; i < masters; ++i)
      nodes_.push_back(std::make_unique<redis_server>(server_config{
          {"--cluster-enabled", "yes", "--cluster-node-timeout", "3000"}, false, false}));
    std::string create = "redis-cli --cluster create";
    for (auto& n : nodes_)
      create += " 127.0.0.1:" + std::to_string(n->port());
    create += " --cluster-replicas 0 --cluster-yes >'" + nodes_[0]->dir() + "/create.log' 2>&1";
    if (std::system(create.c_str()) != 0)
      throw std::runtime_error("redis-cli --cluster create failed: see " + nodes_[0]->dir() +
                               "/create.log");
    // Every node must know the whole map before a client asks.
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    for (auto& n : nodes_)
      while (n->command_text("CLUSTER INFO").find("cluster_state:ok") == std::string::npos) {
        if (std::chrono::steady_clock::now() > until)
          throw std::runtime_error("the test cluster never reached cluster_state:ok");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
  }

  redis_server& node(std::size_t i) { return *nodes_[i]; }
  std::size_t size() const { return nodes_.size(); }

  // Runs a command given as arguments on node i; the reply's integer, or -1.
  long long integer(std::size_t i, const std::vector<std::string>& args) {
    auto* r = call(i, args);
    long long v = (r && r->type == REDIS_REPLY_INTEGER) ? r->integer : -1;
    if (r) freeReplyObject(r);
    return v;
  }
  // The text of a string or status reply ("" otherwise; an error's text after "ERR:").
  std::string text(std::size_t i, const std::vector<std::string>& args) {
    auto* r = call(i, args);
    std::string out;
    if (r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS))
      out.assign(r->str, r->len);
    if (r && r->type == REDIS_REPLY_ERROR) out = "ERR:" + std::string(r->str, r->len);
    if (r) freeReplyObject(r);
    return out;
  }

  // The node that serves `slot`, by each node's own line ("myself") in CLUSTER NODES.
  std::size_t owner(std::uint16_t slot) {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      std::istringstream lines(text(i, {"CLUSTER", "NODES"}));
      for (std::string line; std::getline(lines, line);) {
        if (line.find("myself") == std::string::npos) continue;
        std::istringstream fields(line);
        std::string f;
        for (int n = 0; fields >> f; ++n) {
          if (n < 8 || f.front() == '[') continue;  // id, addr, flags, ...; [migrating]
          const auto dash = f.find('-');
          const long first = std::stol(f.substr(0, dash));
          const long last = dash == std::string::npos ? first : std::stol(f.substr(dash + 1));
          if (slot >= first && slot <= last) return i;
        }
      }
    }
    throw std::runtime_error("no node serves slot " + std::to_string(slot));
  }

  // Moves `slot` from its owner to node `to` the way redis-cli --cluster reshard does,
  // one key per MIGRATE with `pause` between them, so that clients see the slot
  // half-moved (ASK, TRYAGAIN) for a while. Returns the keys moved.
  std::size_t move_slot(std::uint16_t slot, std::size_t to,
                        std::chrono::milliseconds pause = std::chrono::milliseconds(2)) {
    const std::size_t from = owner(slot);
    if (from == to) return 0;
    const std::string s = std::to_string(slot);
    const std::string from_id = text(from, {"CLUSTER", "MYID"}),
                      to_id = text(to, {"CLUSTER", "MYID"});
    check(text(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", from_id}));
    check(text(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", to_id}));
    std::size_t moved = 0;
    for (;;) {
      auto* r = call(from, {"CLUSTER", "GETKEYSINSLOT", s, "1"});
      std::vector<std::string> keys;
      if (r && r->type == REDIS_REPLY_ARRAY)
        for (std::size_t k = 0; k < r->elements; ++k)
          keys.emplace_back(r->element[k]->str, r->element[k]->len);
      if (r) freeReplyObject(r);
      if (keys.empty()) break;
      check(text(from, {"MIGRATE", "127.0.0.1", std::to_string(nodes_[to]->port()), keys[0], "0",
                        "5000"}));
      ++moved;
      std::this_thread::sleep_for(pause);
    }
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      check(text(i, {"CLUSTER", "SETSLOT", s, "NODE", to_id}));
    return moved;
  }

 private:
  redisReply* call(std::size_t i, const std::vector<std::string>& args) {
    timeval timeout{5, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", nodes_[i]->port(), timeout);
    if (c == nullptr) return nullptr;
    redisReply* r = nullptr;
    if (c->err == 0) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      r = static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    }
    redisFree(c);
    return r;
  }
  static void check(const std::string& answer) {
    if (answer.rfind("ERR:", 0) == 0) throw std::runtime_error("cluster command: " + answer);
  }
  std::vector<std::unique_ptr<redis_server>> nodes_;
};

}  // namespace larder::testing
