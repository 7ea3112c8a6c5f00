// compile_cache's knobs and the small text rules around them: cache sizes as people write
// them, the ccache-style management options, and diagnostics colour.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace compile_cache {

/// "5G", "500M", "64KiB", "1.5G", "1048576": bytes. The suffixes K, M, G and T (with an
/// optional "iB" or "B") are powers of 1024, as ccache's "Gi". Empty: garbage, a negative
/// number, an unknown suffix or a size beyond 2^63.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// A management option as the first argument (`-s`, `--stats`, `-z`, `--zero-stats`,
/// `-M SIZE`, `--max-size SIZE`, `-C`, `--clear`, `-h`, `--help`), or an error naming what
/// was wrong. Anything else starting with '-' is refused: it is not a compiler.
struct management {
  enum class action { stats, zero_stats, max_size, clear, help } what = action::help;
  std::uint64_t size = 0;  ///< for max_size
  std::string error;       ///< set when the arguments are not a valid management command
};
/// Empty when `args[0]` does not start with '-' (a compile).
std::optional<management> parse_management(const std::vector<std::string>& args);

/// Diagnostics are compiled in colour when the user's stderr is a terminal (and not
/// TERM=dumb) and the command does not choose itself: the compiler's stderr is a pipe here.
bool wants_colour(const std::vector<std::string>& args);
/// The text without ANSI escape sequences (replayed to a stderr that is not a terminal).
std::string strip_colour(std::string_view text);

}  // namespace compile_cache
