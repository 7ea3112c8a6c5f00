#include "tools/cli/common.hpp"

#include <sys/stat.h>

#include <asio/co_spawn.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>

namespace larder::cli {

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  char out[32];
  std::snprintf(out, sizeof out,
                value < 10    ? "%.2f %s"
                : value < 100 ? "%.1f %s"
                              : "%.0f %s",
                value, units[unit]);
  return out;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto trim = [](std::string_view s) {
    while (!s.empty() && s.front() == ' ')
      s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ')
      s.remove_suffix(1);
    return s;
  };
  text = trim(text);
  std::size_t digits = 0;
  while (digits < text.size() &&
         ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.'))
    ++digits;
  if (digits == 0) return std::nullopt;
  double number = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc{} || end != text.data() + digits) return std::nullopt;
  std::string unit;
  for (char c : trim(text.substr(digits)))
    unit += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  // K, M, G, T and KiB, MiB, GiB, TiB are binary; KB, MB, GB, TB decimal, as the help says.
  static constexpr std::string_view letters = "KMGT";
  double scale = 1;
  if (!unit.empty() && unit != "B") {
    const auto power = letters.find(unit[0]);
    if (power == std::string_view::npos) return std::nullopt;
    const std::string_view rest = std::string_view(unit).substr(1);
    double base = 0;
    if (rest.empty() || rest == "IB")
      base = 1024;
    else if (rest == "B")
      base = 1000;
    else
      return std::nullopt;
    scale = std::pow(base, static_cast<double>(power + 1));
  }
  const double bytes = number * scale;
  if (!std::isfinite(bytes) || bytes >= 18446744073709551615.0) return std::nullopt;
  return static_cast<std::uint64_t>(std::llround(bytes));
}

std::string format_age(std::int64_t seconds) {
  if (seconds < 0) seconds = 0;
  const std::int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                     s = seconds % 60;
  char out[48];
  if (d > 0)
    std::snprintf(out, sizeof out, "%lldd %lldh", static_cast<long long>(d),
                  static_cast<long long>(h));
  else if (h > 0)
    std::snprintf(out, sizeof out, "%lldh %lldm", static_cast<long long>(h),
                  static_cast<long long>(m));
  else if (m > 0)
    std::snprintf(out, sizeof out, "%lldm %llds", static_cast<long long>(m),
                  static_cast<long long>(s));
  else
    std::snprintf(out, sizeof out, "%llds", static_cast<long long>(s));
  return out;
}

std::optional<std::string> decode_key(const std::string& text, bool hex) {
  if (!hex) return text;
  if (text.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

int exit_code_for(std::error_code ec) {
  if (ec == errc::not_a_cache_directory || ec == errc::no_cache_directory ||
      ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
    return exit_not_a_cache;
  return exit_io_error;
}

void report_error(std::string_view what, std::error_code ec) {
  std::fprintf(stderr, "larder %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               ec.message().c_str());
}

asio::awaitable<result<cache>> open_cache(asio::io_context& io, std::string dir, access mode,
                                          std::uint64_t max_bytes) {
  std::error_code ec;
  const auto absolute = std::filesystem::absolute(dir, ec).lexically_normal().string();
  if (ec) {
    report_error("open " + dir, ec);
    co_return ec;
  }
  struct stat st {};
  const bool exists = ::stat(absolute.c_str(), &st) == 0;
  if (!exists && mode != access::create) {
    std::fprintf(stderr, "larder: %s: no such cache directory\n", dir.c_str());
    co_return std::make_error_code(std::errc::no_such_file_or_directory);
  }
  cache out;
  try {
    out.engine = io_engine::create(io);
  } catch (const std::system_error& e) {
    report_error("io engine", e.code());
    co_return e.code();
  }
  disk_store_options options;
  options.root = absolute;
  options.max_bytes = max_bytes;
  // Whatever an application configured, a tool must not drop its entries as oversized.
  options.max_value_size = std::size_t{1} << 40;
  options.max_key_size = 0xffffffffu;
  options.create_root = !exists;
  options.remove_invalid = mode != access::inspect;
  auto opened = co_await disk_store::open(out.engine, std::move(options));
  if (!opened) {
    if (opened.error() == errc::not_a_cache_directory)
      std::fprintf(stderr,
                   "larder: %s is not a larder cache directory (it holds files other than "
                   "the two-hex-digit fan-out directories)\n",
                   dir.c_str());
    else
      report_error("open " + dir, opened.error());
    co_return opened.error();
  }
  out.store = std::move(*opened);
  // A tool reports on, evicts from or invalidates the whole directory: it needs every entry
  // indexed, not just the ones a get would probe for.
  if (const auto indexed = co_await out.store->index_ready()) {
    report_error("index " + dir, indexed);
    co_return indexed;
  }
  co_return out;
}

asio::awaitable<void> save_index(cache& c, std::string_view command) {
  const auto ec = co_await c.store->save_index();
  if (!ec || ec == errc::directory_shared) co_return;
  report_error(std::string(command) + ": saving the index (the next open reads every entry)", ec);
}

int run(std::function<asio::awaitable<int>(asio::io_context&)> body) {
  asio::io_context io;
  int code = exit_io_error;
  asio::co_spawn(io, body(io), [&code](std::exception_ptr e, int rc) {
    if (!e) {
      code = rc;
      return;
    }
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::fprintf(stderr, "larder: %s\n", x.what());
    }
  });
  io.run();
  return code;
}

}  // namespace larder::cli
