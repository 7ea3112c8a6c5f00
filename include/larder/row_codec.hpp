// row_codec: how a live_table turns a row set into the bytes a store keeps, and back.
#pragma once

#include <concepts>
#include <string_view>

#include "larder/blob.hpp"
#include "larder/result.hpp"
#include "larder/row_set.hpp"

namespace larder {

/// A codec for row sets of `Row`. `encode` keeps the rows' order and the fetch time;
/// `decode` of bytes that `encode` did not produce (a foreign or damaged entry) returns
/// errc::corrupt_entry and never a wrong row set. Both are called from several threads
/// at once on one const codec.
template <class C, class Row>
concept row_codec = requires(const C& c, const row_set<Row>& rows, std::string_view bytes) {
  { c.encode(rows) } -> std::same_as<result<blob>>;
  { c.decode(bytes) } -> std::same_as<result<row_set<Row>>>;
};

/// The codec a live_table uses for `Row` when none is named. Specialise it (define
/// `using type = YourCodec;`) to plug in a codec for your own row type;
/// <larder/json_codec.hpp> provides the one for nlohmann::json records.
template <class Row>
struct default_row_codec;

template <class Row>
using default_row_codec_t = typename default_row_codec<Row>::type;

}  // namespace larder
