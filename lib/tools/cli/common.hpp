// Shared pieces of the `larder` command line: exit codes, sizes, opening a cache directory.
#pragma once

#include <CLI/CLI.hpp>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "larder/disk_store.hpp"
#include "larder/io_engine.hpp"
#include "larder/result.hpp"

namespace larder::cli {

/// Exit codes scripts can rely on (also printed by `larder --help`).
enum exit_code : int {
  exit_ok = 0,
  exit_miss = 1,         ///< get: no such key; verify: corruption found and not repaired
  exit_usage = 2,        ///< bad arguments
  exit_not_a_cache = 3,  ///< the directory is missing or is not a larder cache
  exit_io_error = 4,     ///< an I/O error or any other failure
};

inline constexpr std::string_view exit_code_help =
    "Exit codes:\n"
    "  0  success\n"
    "  1  get: the key is not in the cache; verify: corrupt entries found and not repaired\n"
    "  2  usage error (bad arguments or sizes)\n"
    "  3  DIR is missing or is not a larder cache directory\n"
    "  4  I/O error or other failure\n";

/// "1.5 GiB", "512 B": binary units, three significant digits.
std::string format_size(std::uint64_t bytes);

/// Parses "10GiB", "512M", "1.5G", "4096", "2 kb". K, M, G, T with or without "iB" are
/// powers of 1024; KB, MB, GB, TB are powers of 1000; a bare number is bytes.
std::optional<std::uint64_t> parse_size(std::string_view text);

/// "3d 4h", "12m 5s", "40s".
std::string format_age(std::int64_t seconds);

/// Turns KEY/PREFIX arguments into key bytes: as typed, or decoded from hex with --hex.
std::optional<std::string> decode_key(const std::string& text, bool hex);

/// How a subcommand may treat the directory.
enum class access {
  inspect,  ///< must exist and be a cache; nothing on disk changes at open
  modify,   ///< must exist and be a cache; open may remove invalid and stale files
  create,   ///< created when missing (put); an existing directory must be a cache
};

/// An open cache with its io engine; the store goes before the engine and the io_context.
struct cache {
  std::shared_ptr<io_engine> engine;
  std::unique_ptr<disk_store> store;
};

/// Opens `dir` for a subcommand; max_bytes is the budget open enforces (gc lowers it).
/// On failure the reason, naming the directory, is already printed to stderr.
asio::awaitable<result<cache>> open_cache(asio::io_context& io, std::string dir, access mode,
                                          std::uint64_t max_bytes = ~0ull);

/// After a command that changed the cache: saves its index, so that the next opener need not
/// read every entry. Another opener meanwhile (errc::directory_shared) is no fault and says
/// nothing; any other failure is printed as a warning and leaves the exit code alone.
asio::awaitable<void> save_index(cache& c, std::string_view command);

/// The exit code for an error from open or an operation (3 for a missing or foreign
/// directory, 4 for the rest).
int exit_code_for(std::error_code ec);

/// Prints "larder <what>: <message>" to stderr.
void report_error(std::string_view what, std::error_code ec);

/// Runs `body` to completion on a fresh io_context; an escaped exception is exit code 4.
int run(std::function<asio::awaitable<int>(asio::io_context&)> body);

/// Each group adds its subcommands to `app`; `code` receives the chosen one's exit code.
void add_inspect_commands(CLI::App& app, int& code);
void add_entry_commands(CLI::App& app, int& code);

}  // namespace larder::cli
