#include "tools/server/store_stack.hpp"

#include <cstdio>

#include "larder/disk_store.hpp"
#include "larder/error.hpp"
#include "larder/memory_store.hpp"
#if LARDER_SERVER_REDIS
#include "larder/redis_store.hpp"
#endif

namespace larder::server {

asio::awaitable<result<std::unique_ptr<layered_store>>> open_store_stack(
    asio::io_context& io, default_cache_options cache, std::string redis_url) {
  if (redis_url.empty()) {
    auto opened = co_await open_default(io, std::move(cache));
    co_return opened;
  }
#if LARDER_SERVER_REDIS
  if (cache.root.empty()) {
    auto root = disk_store::default_root();
    if (!root) co_return root.error();
    cache.root = std::move(*root);
  }
  redis_store_options redis_options;
  redis_options.url = redis_url;
  redis_options.on_error = [](std::string_view text) {
    std::fprintf(stderr, "larder-server: redis tier: %.*s\n", static_cast<int>(text.size()),
                 text.data());
  };
  auto redis = std::make_shared<redis_store>(io.get_executor(), std::move(redis_options));
  auto engine = io_engine::create(io, cache.io);
  disk_store_options disk_options;
  disk_options.root = cache.root;
  disk_options.max_bytes = cache.disk_bytes;
  disk_options.max_value_size = cache.max_value_size;
  auto disk = co_await disk_store::open(engine, std::move(disk_options));
  if (!disk) co_return disk.error();
  auto memory = std::make_shared<memory_store>(
      memory_store_options{.max_entries = cache.memory_entries, .max_bytes = cache.memory_bytes});
  std::vector<any_store> tiers;
  tiers.emplace_back(std::move(memory), "memory");
  tiers.emplace_back(std::shared_ptr<disk_store>(std::move(*disk)), "disk");
  tiers.emplace_back(std::move(redis), "redis");
  co_return std::make_unique<layered_store>(std::move(tiers), cache.layering);
#else
  co_return make_error_code(errc::invalid_argument);
#endif
}

}  // namespace larder::server
