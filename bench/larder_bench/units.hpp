// Byte sizes and durations as people type and read them ("4KiB", "1.5 ms").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace larder::bench {

/// "4096", "4K", "4KiB", "1.5MiB", "2G" (binary multiples), "64kB", "1MB" (decimal).
/// nullopt when the text is not a size.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// A non-negative count with an optional k/M/G decimal suffix: "20000", "20k", "1.5M".
std::optional<std::uint64_t> parse_count(std::string_view text);

/// "812 B", "4.0 KiB", "1.25 GiB".
std::string format_bytes(double bytes);

/// "850 ns", "12.3 us", "4.56 ms", "1.20 s".
std::string format_ns(double nanoseconds);

/// "812", "32.5k", "1.25M".
std::string format_count(double value);

}  // namespace larder::bench
