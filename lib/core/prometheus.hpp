// prometheus: the Prometheus text exposition format (version 0.0.4), written to a string.
// Shared by larder-server's /metrics and any other component that reports to a scraper.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace larder::prometheus {

using label = std::pair<std::string_view, std::string_view>;

/// Builds one exposition. Each metric family is announced once with family() (its HELP and
/// TYPE lines), then its samples follow. Names are written as given (callers use constant,
/// valid names); label values are escaped, so any bytes a client sent are safe in them.
class writer {
 public:
  enum class type { counter, gauge, histogram };

  void family(std::string_view name, type kind, std::string_view help);
  void sample(std::string_view name, std::initializer_list<label> labels, std::uint64_t value);
  void sample(std::string_view name, std::initializer_list<label> labels, double value);
  void sample(std::string_view name, std::uint64_t value) { sample(name, {}, value); }

  /// A whole histogram family: cumulative `counts` per upper bound in `bounds` (seconds or
  /// any unit, ascending), `+Inf` is `total`, plus the _sum and _count samples.
  void histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                 std::span<const std::uint64_t> cumulative_counts, std::uint64_t total, double sum);

  const std::string& text() const noexcept { return out_; }
  std::string take() && noexcept { return std::move(out_); }

 private:
  void labels(std::initializer_list<label> labels, std::string_view extra_name = {},
              std::string_view extra_value = {});
  std::string out_;
};

/// A label value escaped as the format asks: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

}  // namespace larder::prometheus
