// quickstart: the embedded default cache (memory over io_uring disk), end to end.
//   quickstart [--root DIR]   (default: a fresh temporary directory, removed afterwards)
// Puts content-addressed values, reads them back from memory, reopens the cache to show
// that flushed values come back from disk (and are promoted into memory), then prints the
// stack's metrics per tier.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "larder/fingerprint.hpp"
#include "larder/open_default.hpp"

namespace {

void print_tiers(const larder::layered_store& cache) {
  for (const auto& t : cache.tiers())
    std::printf("  %-7s entries %-6llu bytes %-9llu hits %-5llu misses %-5llu faults %llu\n",
                t.name.c_str(), static_cast<unsigned long long>(t.metrics.entries),
                static_cast<unsigned long long>(t.metrics.bytes),
                static_cast<unsigned long long>(t.metrics.hits),
                static_cast<unsigned long long>(t.metrics.misses),
                static_cast<unsigned long long>(t.faults));
}

asio::awaitable<int> run(asio::io_context& io, std::string root) {
  constexpr int count = 200;
  std::vector<larder::fingerprint> keys;
  // A named options object, not a braced temporary: GCC 12 destroys a temporary passed by
  // value to a coroutine twice.
  larder::default_cache_options options;
  options.root = root;
  {
    auto opened = co_await larder::open_default(io, options);
    if (!opened) {
      std::fprintf(stderr, "quickstart: cannot open the cache at %s: %s\n", root.c_str(),
                   opened.error().message().c_str());
      co_return 1;
    }
    auto& cache = **opened;
    for (int i = 0; i < count; ++i) {
      const std::string artifact = "compiled pipeline #" + std::to_string(i);
      keys.push_back(larder::fingerprint::of(artifact));
      if (auto ec = co_await cache.put(keys.back().key(), larder::blob::copy_of(artifact))) {
        std::fprintf(stderr, "quickstart: put failed: %s\n", ec.message().c_str());
        co_return 1;
      }
    }
    if (auto ec = co_await cache.flush()) {
      std::fprintf(stderr, "quickstart: flush failed: %s\n", ec.message().c_str());
      co_return 1;
    }
    int hits = 0;
    for (const auto& k : keys) {
      // Await into a local: GCC 12 mishandles co_await inside larger expressions.
      const auto r = co_await cache.get(k.key());
      hits += r.is_hit();
    }
    std::printf("first run: put %d values, flushed, read %d back\n", count, hits);
    print_tiers(cache);
  }
  // A new process would see the same thing: memory starts empty, disk remembers.
  auto reopened = co_await larder::open_default(io, options);
  if (!reopened) {
    std::fprintf(stderr, "quickstart: reopen failed: %s\n", reopened.error().message().c_str());
    co_return 1;
  }
  auto& cache = **reopened;
  int hits = 0;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& k : keys) {
      const auto r = co_await cache.get(k.key());
      hits += r.is_hit();
    }
  }
  const auto promoted = cache.promotions();
  std::printf("after reopen: %d of %d reads hit; %llu promoted from disk into memory\n", hits,
              2 * count, static_cast<unsigned long long>(promoted.events));
  print_tiers(cache);
  co_return hits == 2 * count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  bool temporary = false;
  if (argc == 3 && std::string(argv[1]) == "--root") {
    root = argv[2];
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: quickstart [--root DIR]\n");
    return 2;
  } else {
    std::string pattern = (std::filesystem::temp_directory_path() / "larder-quickstart-XXXXXX");
    if (!::mkdtemp(pattern.data())) {
      std::perror("quickstart: mkdtemp");
      return 1;
    }
    root = pattern;
    temporary = true;
  }
  asio::io_context io;
  int status = 1;
  asio::co_spawn(io, run(io, root), [&](std::exception_ptr e, int rc) { status = e ? 1 : rc; });
  io.run();
  if (temporary) std::filesystem::remove_all(root);
  return status;
}
