// json_codec: row sets of dynamic records (nlohmann::json), stored as CBOR.
// A separate header so that users without nlohmann-json never include it.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>
#include <vector>

#include "larder/blob.hpp"
#include "larder/error.hpp"
#include "larder/result.hpp"
#include "larder/row_codec.hpp"
#include "larder/row_set.hpp"

namespace larder {

/// Encodes a row_set<nlohmann::json> as one CBOR array:
/// `["larder.rows", 1, <fetched_at, ns since the Unix epoch>, [[<id>, <record>], ...]]`.
/// The tag and version let decode refuse bytes it did not write (errc::corrupt_entry)
/// instead of guessing; CBOR keeps binary values and is smaller than JSON text.
struct json_row_codec {
  using row_type = nlohmann::json;
  static constexpr std::string_view tag = "larder.rows";
  static constexpr std::int64_t version = 1;

  result<blob> encode(const row_set<nlohmann::json>& set) const {
    try {
      auto rows = nlohmann::json::array();
      for (const auto& r : set.rows)
        rows.push_back(nlohmann::json::array({r.id, r.record}));
      const auto ns =
          std::chrono::duration_cast<std::chrono::nanoseconds>(set.fetched_at.time_since_epoch())
              .count();
      const auto doc = nlohmann::json::array(
          {std::string(tag), version, static_cast<std::int64_t>(ns), std::move(rows)});
      return blob(nlohmann::json::to_cbor(doc));
    } catch (const nlohmann::json::exception&) {
      // A record nlohmann cannot serialise (it never happens for values it parsed).
      return errc::invalid_argument;
    }
  }

  result<row_set<nlohmann::json>> decode(std::string_view bytes) const {
    // No exceptions: a damaged entry yields a discarded value, then a fault.
    auto doc = nlohmann::json::from_cbor(bytes.begin(), bytes.end(), true, false);
    if (doc.is_discarded() || !doc.is_array() || doc.size() != 4) return errc::corrupt_entry;
    if (!doc[0].is_string() || doc[0].get_ref<const std::string&>() != tag)
      return errc::corrupt_entry;
    if (!doc[1].is_number_integer() || doc[1].get<std::int64_t>() != version)
      return errc::corrupt_entry;
    if (!doc[2].is_number_integer() || !doc[3].is_array()) return errc::corrupt_entry;
    row_set<nlohmann::json> out;
    out.fetched_at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(doc[2].get<std::int64_t>())));
    auto& rows = doc[3].get_ref<nlohmann::json::array_t&>();
    out.rows.reserve(rows.size());
    for (auto& r : rows) {
      if (!r.is_array() || r.size() != 2 || !r[0].is_string()) return errc::corrupt_entry;
      out.rows.push_back({std::move(r[0].get_ref<std::string&>()), std::move(r[1])});
    }
    return out;
  }
};

template <>
struct default_row_codec<nlohmann::json> {
  using type = json_row_codec;
};

static_assert(row_codec<json_row_codec, nlohmann::json>);

}  // namespace larder
