#include "settings.hpp"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace compile_cache {

std::optional<std::uint64_t> parse_size(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
    ++i;
  const std::string number(text.substr(0, i));
  if (number.empty() || number == "." || number.find('.') != number.rfind('.')) return std::nullopt;
  std::string_view suffix = text.substr(i);
  double scale = 1;
  if (!suffix.empty()) {
    const char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(suffix[0])));
    const std::string_view units = "KMGT";
    const auto at = units.find(unit);
    if (at != std::string_view::npos) {
      scale = std::pow(1024.0, static_cast<double>(at + 1));
      suffix.remove_prefix(1);
      if (suffix == "iB" || suffix == "i" || suffix == "B") suffix = {};
    } else if (suffix == "B") {
      suffix = {};
    }
  }
  if (!suffix.empty()) return std::nullopt;
  const double bytes = std::strtod(number.c_str(), nullptr) * scale;
  if (!(bytes >= 0) || bytes >= 9.2e18) return std::nullopt;
  return static_cast<std::uint64_t>(bytes);
}

std::optional<management> parse_management(const std::vector<std::string>& args) {
  if (args.empty() || args[0].empty() || args[0][0] != '-') return std::nullopt;
  management m;
  const auto& opt = args[0];
  const bool with_value = opt == "-M" || opt == "--max-size";
  if (args.size() != (with_value ? 2u : 1u)) {
    m.error =
        with_value ? opt + " takes one size (for example 5G)" : opt + " takes no further arguments";
  }
  if (opt == "-s" || opt == "--stats") {
    m.what = management::action::stats;
  } else if (opt == "-z" || opt == "--zero-stats") {
    m.what = management::action::zero_stats;
  } else if (opt == "-C" || opt == "--clear") {
    m.what = management::action::clear;
  } else if (opt == "-h" || opt == "--help") {
    m.what = management::action::help;
  } else if (with_value) {
    m.what = management::action::max_size;
    if (m.error.empty()) {
      const auto size = parse_size(args[1]);
      if (!size || *size == 0)
        m.error = "'" + args[1] + "' is not a size (write it as 5G, 500M, 64K or bytes)";
      else
        m.size = *size;
    }
  } else {
    m.error = "unknown option " + opt +
              ": the first argument is a compiler or one of -s, -z, "
              "-M SIZE, -C, --help";
  }
  return m;
}

bool wants_colour(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a.starts_with("-fdiagnostics-color") || a.starts_with("-fno-diagnostics-color"))
      return false;
  const char* term = std::getenv("TERM");
  if (term && std::string_view(term) == "dumb") return false;
  return ::isatty(STDERR_FILENO) == 1;
}

std::string strip_colour(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
      // CSI: parameters and intermediates, then one final byte in @..~.
      std::size_t j = i + 2;
      while (j < text.size() && (text[j] < '@' || text[j] > '~'))
        ++j;
      i = j;
      continue;
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace compile_cache
