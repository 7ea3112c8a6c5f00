#include "larder/open_default.hpp"

#include "larder/disk_store.hpp"
#include "larder/memory_store.hpp"

namespace larder {

asio::awaitable<result<std::unique_ptr<layered_store>>> open_default(
    asio::io_context& io, default_cache_options options) {
  if (options.root.empty()) {
    auto root = disk_store::default_root();
    if (!root) co_return root.error();
    options.root = std::move(*root);
  }
  auto engine = io_engine::create(io, options.io);
  disk_store_options disk_options;
  disk_options.root = options.root;
  disk_options.max_bytes = options.disk_bytes;
  disk_options.max_value_size = options.max_value_size;
  auto disk = co_await disk_store::open(engine, std::move(disk_options));
  if (!disk) co_return disk.error();
  auto memory = std::make_shared<memory_store>(
      memory_store_options{.max_entries = options.memory_entries,
                           .max_bytes = options.memory_bytes,
                           .max_value_size = options.memory_max_value_size,
                           .shards = options.memory_shards});
  std::vector<any_store> tiers;
  tiers.emplace_back(std::move(memory), "memory");
  tiers.emplace_back(std::shared_ptr<disk_store>(std::move(*disk)), "disk");
  co_return std::make_unique<layered_store>(std::move(tiers), options.layering);
}

}  // namespace larder
