#include "core/prometheus.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace larder::prometheus {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

void append_double(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, v);
  out.append(buffer, ec == std::errc{} ? end : buffer);
}

std::string_view type_name(writer::type kind) {
  switch (kind) {
    case writer::type::counter:
      return "counter";
    case writer::type::gauge:
      return "gauge";
    case writer::type::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void writer::family(std::string_view name, type kind, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  // HELP text escapes only backslash and newline.
  for (char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type_name(kind);
  out_ += '\n';
}

void writer::labels(std::initializer_list<label> labels, std::string_view extra_name,
                    std::string_view extra_value) {
  if (labels.size() == 0 && extra_name.empty()) return;
  out_ += '{';
  bool first = true;
  auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out_ += ',';
    first = false;
    out_ += name;
    out_ += "=\"";
    out_ += escape_label_value(value);
    out_ += '"';
  };
  for (const auto& [name, value] : labels)
    one(name, value);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out_ += '}';
}

void writer::sample(std::string_view name, std::initializer_list<label> l, std::uint64_t value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void writer::sample(std::string_view name, std::initializer_list<label> l, double value) {
  out_ += name;
  labels(l);
  out_ += ' ';
  append_double(out_, value);
  out_ += '\n';
}

void writer::histogram(std::string_view name, std::string_view help, std::span<const double> bounds,
                       std::span<const std::uint64_t> cumulative_counts, std::uint64_t total,
                       double sum) {
  family(name, type::histogram, help);
  std::string bucket = std::string(name) + "_bucket";
  for (std::size_t i = 0; i < bounds.size() && i < cumulative_counts.size(); ++i) {
    std::string le;
    append_double(le, bounds[i]);
    out_ += bucket;
    labels({}, "le", le);
    out_ += ' ';
    out_ += std::to_string(cumulative_counts[i]);
    out_ += '\n';
  }
  out_ += bucket;
  labels({}, "le", "+Inf");
  out_ += ' ';
  out_ += std::to_string(total);
  out_ += '\n';
  sample(std::string(name) + "_sum", {}, sum);
  sample(std::string(name) + "_count", {}, total);
}

}  // namespace larder::prometheus
