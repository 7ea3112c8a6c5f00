// A program that uses an installed larder the way a packager's user would: only the
// installed headers, found through pkg-config or the CMake package. It puts, flushes, reopens
// and reads back one value through the embedded default store.
#include <larder/larder.hpp>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <cstdio>
#include <string>

namespace {

asio::awaitable<int> round_trip(asio::io_context& io, std::string dir) {
  // A named options object, not a braced temporary (GCC 12 and coroutine arguments).
  larder::default_cache_options options;
  options.root = dir;
  {
    auto opened = co_await larder::open_default(io, options);
    if (!opened) {
      std::fprintf(stderr, "open_default(%s): %s\n", dir.c_str(), opened.error().message().c_str());
      co_return 1;
    }
    auto& cache = **opened;
    if (auto ec = co_await cache.put("consumer/key", larder::blob::copy_of("installed larder"))) {
      std::fprintf(stderr, "put: %s\n", ec.message().c_str());
      co_return 2;
    }
    if (auto ec = co_await cache.flush()) {
      std::fprintf(stderr, "flush: %s\n", ec.message().c_str());
      co_return 3;
    }
  }
  auto reopened = co_await larder::open_default(io, options);
  if (!reopened) co_return 4;
  const auto got = co_await (*reopened)->get("consumer/key");
  if (!got.is_hit() || got.value().view() != "installed larder") {
    std::fprintf(stderr, "the value did not come back after a reopen\n");
    co_return 5;
  }
  std::printf("larder %s: round trip through %s OK\n", LARDER_VERSION_STRING, dir.c_str());
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CACHE_DIR\n", argv[0]);
    return 2;
  }
  asio::io_context io;
  auto done = asio::co_spawn(io, round_trip(io, argv[1]), asio::use_future);
  io.run();
  return done.get();
}
