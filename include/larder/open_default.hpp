// open_default: the embedded default cache, memory over io_uring disk.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "larder/io_engine.hpp"
#include "larder/layered_store.hpp"
#include "larder/result.hpp"

namespace larder {

struct default_cache_options {
  /// Disk root; empty: $XDG_CACHE_HOME/larder or ~/.cache/larder.
  std::string root{};
  /// Memory tier budget (S3-FIFO).
  std::uint64_t memory_bytes = 256ull << 20;
  std::uint64_t memory_entries = 1'000'000;
  /// Memory tier shards (memory_store_options::shards); 0 picks from the budget.
  unsigned memory_shards = 0;
  /// Largest value the memory tier takes; 0: its whole byte budget.
  std::uint64_t memory_max_value_size = 0;
  /// Disk tier capacity; approximately least recently used entries go past it.
  std::uint64_t disk_bytes = 8ull << 30;
  /// Largest value the disk tier accepts.
  std::size_t max_value_size = 64ull << 20;
  io_engine_options io{};
  layered_options layering{};
};

/// Opens memory over disk at the default root with the budgets above: the cache most
/// users want. The io engine (io_uring, or the thread pool where io_uring is refused) is
/// owned by the returned store's disk tier; destroy the store before `io`.
///
/// Completion: after the disk tier's index was rebuilt from the files on disk. Errors:
/// errc::no_cache_directory when no root can be found, or the error that opening the disk
/// tier met. Cancellation: that of the disk tier's open.
asio::awaitable<result<std::unique_ptr<layered_store>>> open_default(
    asio::io_context& io, default_cache_options options = {});

}  // namespace larder
