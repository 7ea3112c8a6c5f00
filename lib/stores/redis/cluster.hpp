// Redis Cluster without I/O: the key -> slot function (CRC16 with hash tags), the slot
// map read from CLUSTER SLOTS, and the classification of redirect errors (MOVED, ASK,
// TRYAGAIN, CLUSTERDOWN). The router (router.hpp) does the talking.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stores/redis/reply.hpp"

namespace larder::redis {

inline constexpr std::size_t slot_count = 16384;

// CRC16-XMODEM (polynomial 0x1021, initial 0), as Redis Cluster uses.
std::uint16_t crc16(std::string_view bytes) noexcept;

// The slot of a key: CRC16 of its hash tag (the bytes between the first '{' and the
// first '}' after it, when not empty) or of the whole key, modulo 16384.
std::uint16_t key_slot(std::string_view key) noexcept;

struct node_address {
  std::string host;
  std::uint16_t port = 0;
  std::string name() const;  // "host:port", "[v6]:port"
  bool operator==(const node_address&) const = default;
};

// Which master serves each slot. Slots nobody serves have owner -1.
struct slot_map {
  std::vector<node_address> masters;
  std::array<std::int16_t, slot_count> owner;
  slot_map() { owner.fill(-1); }
  const node_address* master_of(std::uint16_t slot) const noexcept;
  std::size_t covered() const noexcept;  // slots with a master
};

struct slot_map_parse {
  std::optional<slot_map> map;
  std::string error;  // what was wrong with the reply
};

// Reads a CLUSTER SLOTS reply: [[first, last, [host, port, id, ...], replicas...], ...].
// A master announced with an empty host ("" or "?": the server does not know its own
// address) is taken to be on `asked_host`, the host the command was sent to.
slot_map_parse parse_cluster_slots(const reply& r, std::string_view asked_host);

struct redirect {
  enum class kind : unsigned char {
    none,         // not a cluster error: the command's own answer
    moved,        // the slot lives on `to` now: update the map, resend there
    ask,          // this one command: send ASKING then the command to `to`
    try_again,    // a multi-key command while its slot is half migrated: retry soon
    cluster_down  // the cluster cannot serve the slot now: refresh the map, retry soon
  };
  kind what = kind::none;
  std::uint16_t slot = 0;
  node_address to;
};

// "MOVED 3999 127.0.0.1:6381", "ASK 3999 :6381" (an empty host: the node that answered,
// `current_host`), "TRYAGAIN ...", "CLUSTERDOWN ...", and a function's refusal to reach
// a key of a slot being migrated (retried as TRYAGAIN). A malformed MOVED or ASK is none.
redirect classify_redirect(std::string_view error_text, std::string_view current_host);

}  // namespace larder::redis
