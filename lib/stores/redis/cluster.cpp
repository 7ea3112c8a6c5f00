#include "stores/redis/cluster.hpp"

#include <charconv>

namespace larder::redis {
namespace {

constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    std::uint16_t c = static_cast<std::uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b)
      c = static_cast<std::uint16_t>((c & 0x8000) ? (c << 1) ^ 0x1021 : (c << 1));
    t[i] = c;
  }
  return t;
}
constexpr auto crc_table = make_crc_table();

template <class Int>
bool parse_int(std::string_view s, Int& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

// "host:port" with the port after the last ':' (so "::1:6379" is [::1]:6379).
std::optional<node_address> parse_endpoint(std::string_view text, std::string_view current) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  node_address a;
  if (!parse_int(text.substr(colon + 1), a.port) || a.port == 0) return std::nullopt;
  a.host = std::string(colon == 0 ? current : text.substr(0, colon));
  if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']')
    a.host = a.host.substr(1, a.host.size() - 2);
  return a;
}

}  // namespace

std::uint16_t crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (const char ch : bytes)
    crc = static_cast<std::uint16_t>(
        (crc << 8) ^ crc_table[((crc >> 8) ^ static_cast<unsigned char>(ch)) & 0xff]);
  return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1)
      key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<std::uint16_t>(crc16(key) & (slot_count - 1));
}

std::string node_address::name() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

const node_address* slot_map::master_of(std::uint16_t slot) const noexcept {
  const auto i = owner[slot & (slot_count - 1)];
  return i < 0 ? nullptr : &masters[static_cast<std::size_t>(i)];
}

std::size_t slot_map::covered() const noexcept {
  std::size_t n = 0;
  for (const auto o : owner)
    n += o >= 0;
  return n;
}

slot_map_parse parse_cluster_slots(const reply& r, std::string_view asked_host) {
  slot_map_parse out;
  if (r.type == reply::kind::error) {
    out.error = "CLUSTER SLOTS refused: " + std::string(r.bytes.view());
    return out;
  }
  if (r.type != reply::kind::array) {
    out.error = "CLUSTER SLOTS did not answer with an array";
    return out;
  }
  slot_map map;
  for (std::size_t i = 0; i < r.elements.size(); ++i) {
    const reply& range = r.elements[i];
    const std::string where = "CLUSTER SLOTS entry " + std::to_string(i) + ": ";
    if (range.type != reply::kind::array || range.elements.size() < 3 ||
        range.elements[0].type != reply::kind::integer ||
        range.elements[1].type != reply::kind::integer) {
      out.error = where + "not [first, last, master, ...]";
      return out;
    }
    const long long first = range.elements[0].integer, last = range.elements[1].integer;
    if (first < 0 || last < first || last >= static_cast<long long>(slot_count)) {
      out.error = where + "slot range " + std::to_string(first) + "-" + std::to_string(last) +
                  " outside 0-16383";
      return out;
    }
    const reply& master = range.elements[2];
    if (master.type != reply::kind::array || master.elements.size() < 2 ||
        master.elements[0].type != reply::kind::string ||
        master.elements[1].type != reply::kind::integer || master.elements[1].integer <= 0 ||
        master.elements[1].integer > 65535) {
      out.error = where + "master is not [host, port, ...]";
      return out;
    }
    node_address a;
    a.host = std::string(master.elements[0].bytes.view());
    if (a.host.empty() || a.host == "?") a.host = std::string(asked_host);
    a.port = static_cast<std::uint16_t>(master.elements[1].integer);
    std::int16_t index = -1;
    for (std::size_t m = 0; m < map.masters.size(); ++m)
      if (map.masters[m] == a) index = static_cast<std::int16_t>(m);
    if (index < 0) {
      index = static_cast<std::int16_t>(map.masters.size());
      map.masters.push_back(std::move(a));
    }
    for (long long s = first; s <= last; ++s)
      map.owner[static_cast<std::size_t>(s)] = index;
  }
  if (map.masters.empty()) {
    out.error = "CLUSTER SLOTS listed no slot: the cluster is not set up";
    return out;
  }
  out.map = std::move(map);
  return out;
}

redirect classify_redirect(std::string_view text, std::string_view current_host) {
  redirect out;
  auto starts = [&](std::string_view p) { return text.substr(0, p.size()) == p; };
  if (starts("TRYAGAIN")) {
    out.what = redirect::kind::try_again;
    return out;
  }
  // A function reaching a key that is not declared (the invalidation's data keys) in a
  // slot being migrated: refused at that key, after the batch's earlier removals, which
  // a retry (idempotent) finds done. Retried like TRYAGAIN until the slot has moved.
  for (std::string_view during :
       {"attempted to access a non local key", "during rehashing of the slot",
        "attempted to access a slot not served"})
    if (text.find(during) != std::string_view::npos) {
      out.what = redirect::kind::try_again;
      return out;
    }
  if (starts("CLUSTERDOWN")) {
    out.what = redirect::kind::cluster_down;
    return out;
  }
  redirect::kind k;
  if (starts("MOVED ")) {
    k = redirect::kind::moved;
    text.remove_prefix(6);
  } else if (starts("ASK ")) {
    k = redirect::kind::ask;
    text.remove_prefix(4);
  } else {
    return out;
  }
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return out;
  std::uint16_t slot = 0;
  if (!parse_int(text.substr(0, space), slot) || slot >= slot_count) return out;
  auto to = parse_endpoint(text.substr(space + 1), current_host);
  if (!to) return out;
  out.what = k;
  out.slot = slot;
  out.to = std::move(*to);
  return out;
}

}  // namespace larder::redis
