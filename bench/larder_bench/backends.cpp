#include "larder_bench/backends.hpp"

#include <memory>
#include <system_error>

#include "baselines/mutex_lru.hpp"
#include "baselines/seed_store.hpp"
#include "larder/config.hpp"
#include "larder/disk_store.hpp"
#include "larder/io_engine.hpp"
#include "larder/layered_store.hpp"
#include "larder/memory_store.hpp"
#include "larder/null_store.hpp"
#include "larder/open_default.hpp"
#if LARDER_HAVE_REDIS
#include <unistd.h>

#include <chrono>

#include "larder/redis_store.hpp"
#endif
#include "larder_bench/baseline_stores.hpp"
#include "larder_bench/units.hpp"

namespace larder::bench {
namespace {

std::string bytes_text(std::uint64_t n) {
  return format_bytes(static_cast<double>(n));
}

// An entry bound loose enough that the byte budget decides, even for tiny values.
std::uint64_t entry_bound(std::uint64_t bytes) {
  return bytes / 64 + 1024;
}

io_backend io_kind(const bench_config& c) {
  if (c.io == "io_uring") return io_backend::io_uring;
  if (c.io == "thread_pool") return io_backend::thread_pool;
  return io_backend::automatic;
}

memory_store_options memory_options(const bench_config& c) {
  return {.max_entries = entry_bound(c.capacity), .max_bytes = c.capacity, .policy = c.policy};
}

opened_backend failed(std::string why) {
  opened_backend out;
  out.error = std::move(why);
  return out;
}

opened_backend opened(any_store store, std::string description) {
  opened_backend out;
  out.store.emplace(std::move(store));
  out.description = std::move(description);
  return out;
}

asio::awaitable<opened_backend> open_memory(const backend_setup& s) {
  auto store = std::make_shared<memory_store>(memory_options(s.config));
  co_return opened(any_store(std::move(store), "memory"),
                   "memory: " + bytes_text(s.config.capacity) + " " + policy_name(s.config.policy));
}

asio::awaitable<opened_backend> open_null(const backend_setup&) {
  co_return opened(any_store(std::make_shared<null_store>(), "null"), "null: keeps nothing");
}

// The io engine, or why it could not be made (io_uring forced where it is refused).
result<std::shared_ptr<io_engine>> make_engine(const backend_setup& s, std::string& why) {
  try {
    return io_engine::create(s.io, {.backend = io_kind(s.config)});
  } catch (const std::system_error& e) {
    why = e.what();
    return e.code();
  }
}

asio::awaitable<opened_backend> open_disk(const backend_setup& s) {
  std::string why;
  auto engine = make_engine(s, why);
  if (!engine) co_return failed("cannot start the io engine: " + why);
  disk_store_options options;
  options.root = s.root;
  options.max_bytes = s.config.disk_capacity;
  auto disk = co_await disk_store::open(std::move(*engine), std::move(options));
  if (!disk)
    co_return failed("cannot open the disk store at " + s.root + ": " + disk.error().message());
  std::shared_ptr<disk_store> shared(std::move(*disk));
  co_return opened(any_store(std::move(shared), "disk"),
                   "disk: " + bytes_text(s.config.disk_capacity) + " at " + s.root);
}

// Memory over disk. The embedded default (open_default) when the memory policy is its
// own; the same two tiers assembled here when another policy is asked for.
asio::awaitable<opened_backend> open_layered(const backend_setup& s) {
  const bench_config& c = s.config;
  const std::string what = "layered: memory " + bytes_text(c.capacity) + " " +
                           policy_name(c.policy) + " over disk " + bytes_text(c.disk_capacity) +
                           " at " + s.root;
  if (c.policy == memory_store_options{}.policy) {
    default_cache_options options;
    options.root = s.root;
    options.memory_bytes = c.capacity;
    options.memory_entries = entry_bound(c.capacity);
    options.disk_bytes = c.disk_capacity;
    options.io.backend = io_kind(c);
    result<std::unique_ptr<layered_store>> store = errc::cancelled;
    try {
      store = co_await open_default(s.io, std::move(options));
    } catch (const std::system_error& e) {  // the io engine refused: io_uring forced
      co_return failed(std::string("cannot start the io engine: ") + e.what());
    }
    if (!store) co_return failed("open_default at " + s.root + ": " + store.error().message());
    std::shared_ptr<layered_store> shared(std::move(*store));
    co_return opened(any_store(std::move(shared), "layered"), what + " (open_default)");
  }
  std::string why;
  auto engine = make_engine(s, why);
  if (!engine) co_return failed("cannot start the io engine: " + why);
  disk_store_options disk_options;
  disk_options.root = s.root;
  disk_options.max_bytes = c.disk_capacity;
  auto disk = co_await disk_store::open(std::move(*engine), std::move(disk_options));
  if (!disk)
    co_return failed("cannot open the disk store at " + s.root + ": " + disk.error().message());
  std::vector<any_store> tiers;
  tiers.emplace_back(std::make_shared<memory_store>(memory_options(c)), "memory");
  tiers.emplace_back(std::shared_ptr<disk_store>(std::move(*disk)), "disk");
  co_return opened(any_store(std::make_shared<layered_store>(std::move(tiers)), "layered"), what);
}

#if LARDER_HAVE_REDIS
// A namespace of its own per run (the process id), entries that expire on their own if the
// run dies (unless --redis-ttl 0), and a first round trip so that an absent server is an error
// here, not a run of faults.
asio::awaitable<opened_backend> open_redis(const backend_setup& s) {
  redis_store_options options;
  const std::string& where = s.config.redis;
  const auto colon = where.rfind(':');
  if (where.find("://") != std::string::npos) {
    options.url = where;  // redis://, rediss://, unix://: parsed by the store
  } else {
    options.host = where.substr(0, colon);
  }
  if (options.url.empty() && colon != std::string::npos) {
    const auto port = parse_count(std::string_view(where).substr(colon + 1));
    if (!port || *port == 0 || *port > 65535) co_return failed("--redis: bad port in " + where);
    options.port = static_cast<std::uint16_t>(*port);
  }
  options.name_space = "larder-bench-" + std::to_string(::getpid());
  options.ttl = std::chrono::seconds(s.config.redis_ttl_s);
  options.connections = std::max(1u, s.config.threads);
  options.cluster = s.config.redis_cluster;
  std::shared_ptr<redis_store> store;
  try {
    store = std::make_shared<redis_store>(s.io.get_executor(), options);
  } catch (const std::system_error& e) {
    co_return failed(std::string("redis: ") + e.what());
  }
  lookup probe = co_await store->get("larder-bench:probe");
  if (probe.is_fault())
    co_return failed("cannot reach Redis at " + where + ": " + probe.error().message());
  opened_backend out = opened(any_store(std::move(store), "redis"),
                              "redis: " + where + ", namespace " + options.name_space);
  out.clear_on_close = true;
  co_return out;
}
#else
// This larder was built without its Redis tier: asking for it is an error that says so,
// never a silent substitute.
asio::awaitable<opened_backend> open_redis(const backend_setup&) {
  co_return failed(
      "the redis backend is not compiled into this larder-bench (larder was built without "
      "redis_store); available backends: " +
      backend_names());
}
#endif

asio::awaitable<opened_backend> open_mutex_lru(const backend_setup& s) {
  const std::uint64_t bytes = s.config.capacity;
  auto store = std::make_shared<baseline_store<mutex_lru>>(entry_bound(bytes), bytes, bytes);
  opened_backend out =
      opened(any_store(std::move(store), "mutex-lru"),
             "mutex-lru: one mutex over a hash map and an LRU list, " + bytes_text(bytes));
  out.counts_evictions = false;
  co_return out;
}

asio::awaitable<opened_backend> open_seed(const backend_setup& s) {
  const std::uint64_t bytes = s.config.capacity;
  auto store = std::make_shared<baseline_store<seed_store>>(entry_bound(bytes), bytes,
                                                            bytes / seed_store::shard_count);
  opened_backend out = opened(any_store(std::move(store), "seed"),
                              "seed: 256 mutex shards, LRU by linear scan, " + bytes_text(bytes));
  out.counts_evictions = false;
  co_return out;
}

constexpr backend_entry table[] = {
    {"layered", "memory over disk: the embedded default (open_default)", true, open_layered},
    {"memory", "memory_store alone", false, open_memory},
    {"disk", "disk_store alone, on the io engine", true, open_disk},
    {"null", "null_store: every get misses", false, open_null},
    {"redis", "redis_store alone (--redis HOST:PORT or URL)", false, open_redis},
    {"mutex-lru", "baseline: single-mutex LRU", false, open_mutex_lru},
    {"seed", "baseline: the seed's sharded store", false, open_seed},
};

}  // namespace

std::span<const backend_entry> backend_table() noexcept {
  return table;
}

const backend_entry* find_backend(std::string_view name) noexcept {
  for (const auto& entry : table)
    if (entry.name == name) return &entry;
  return nullptr;
}

std::string backend_names() {
  std::string out;
  for (const auto& entry : table) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

}  // namespace larder::bench
