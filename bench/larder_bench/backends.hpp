// The stores larder-bench can drive, one factory function each, looked up by name.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "larder/any_store.hpp"
#include "larder_bench/options.hpp"

namespace larder::bench {

/// What a factory gets. `io` is where an io engine runs (thread 0 of the runtime, which
/// keeps running until the store is closed); `root` is a directory the factory may use
/// for disk tiers (empty when the backend does not use one).
struct backend_setup {
  asio::io_context& io;
  const bench_config& config;
  std::string root;
};

/// A store ready to drive, or why there is none.
struct opened_backend {
  std::optional<any_store> store;
  std::string description;  ///< "layered: memory 32.0 MiB s3_fifo over disk 256 MiB at /tmp/..."
  std::string error;        ///< set when `store` is empty
  bool counts_evictions = true;  ///< false: the store does not report them (the baselines)
  /// Remove every entry before closing: the store's data outlives the process otherwise
  /// (a Redis namespace made for this run).
  bool clear_on_close = false;
};

/// One row of the backend table. To add a backend, write one factory and add one row.
struct backend_entry {
  std::string_view name;
  std::string_view about;
  bool uses_directory;  ///< needs a cache root (a temporary one unless --dir)
  /// Opens the store; runs on `setup.io`. `setup` must outlive the returned awaitable.
  asio::awaitable<opened_backend> (*open)(const backend_setup& setup);
};

std::span<const backend_entry> backend_table() noexcept;
/// The row named `name`, or nullptr.
const backend_entry* find_backend(std::string_view name) noexcept;
/// "memory, disk, layered, ..." for error messages.
std::string backend_names();

}  // namespace larder::bench
