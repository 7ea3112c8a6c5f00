#include "larder_bench/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace larder::bench {
namespace {

// The leading decimal number of `text` and the rest; nullopt without digits.
std::optional<std::pair<double, std::string_view>> split_number(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || !(value >= 0) || !std::isfinite(value)) return std::nullopt;
  std::string_view rest(end, static_cast<std::size_t>(text.data() + text.size() - end));
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front())))
    rest.remove_prefix(1);
  return std::pair{value, rest};
}

std::optional<std::uint64_t> scaled(double value, double unit) {
  const double bytes = std::round(value * unit);
  if (bytes > 1.8e19) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace

std::optional<std::uint64_t> parse_size(std::string_view text) {
  const auto number = split_number(text);
  if (!number) return std::nullopt;
  const auto [value, unit] = *number;
  struct suffix {
    std::string_view text;
    double factor;
  };
  static constexpr suffix suffixes[] = {
      {"", 1},       {"B", 1},        {"K", 0x1p10}, {"KiB", 0x1p10}, {"k", 0x1p10},
      {"kB", 1e3},   {"KB", 1e3},     {"M", 0x1p20}, {"MiB", 0x1p20}, {"MB", 1e6},
      {"G", 0x1p30}, {"GiB", 0x1p30}, {"GB", 1e9},   {"T", 0x1p40},   {"TiB", 0x1p40},
  };
  for (const auto& s : suffixes)
    if (unit == s.text) return scaled(value, s.factor);
  return std::nullopt;
}

std::optional<std::uint64_t> parse_count(std::string_view text) {
  const auto number = split_number(text);
  if (!number) return std::nullopt;
  const auto [value, unit] = *number;
  if (unit.empty()) return scaled(value, 1);
  if (unit == "k" || unit == "K") return scaled(value, 1e3);
  if (unit == "M") return scaled(value, 1e6);
  if (unit == "G") return scaled(value, 1e9);
  return std::nullopt;
}

std::string format_bytes(double bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t u = 0;
  while (bytes >= 1024.0 && u + 1 < std::size(units)) {
    bytes /= 1024.0;
    ++u;
  }
  char text[32];
  if (u == 0)
    std::snprintf(text, sizeof text, "%.0f B", bytes);
  else
    std::snprintf(text, sizeof text, bytes < 10 ? "%.2f %s" : "%.1f %s", bytes, units[u]);
  return text;
}

std::string format_ns(double ns) {
  char text[32];
  if (ns < 1e3)
    std::snprintf(text, sizeof text, "%.0f ns", ns);
  else if (ns < 1e6)
    std::snprintf(text, sizeof text, "%.1f us", ns / 1e3);
  else if (ns < 1e9)
    std::snprintf(text, sizeof text, "%.2f ms", ns / 1e6);
  else
    std::snprintf(text, sizeof text, "%.2f s", ns / 1e9);
  return text;
}

std::string format_count(double value) {
  char text[32];
  if (value < 1e4)
    std::snprintf(text, sizeof text, "%.0f", value);
  else if (value < 1e6)
    std::snprintf(text, sizeof text, "%.1fk", value / 1e3);
  else
    std::snprintf(text, sizeof text, "%.2fM", value / 1e6);
  return text;
}

}  // namespace larder::bench
