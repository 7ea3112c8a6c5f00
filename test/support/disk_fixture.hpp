// Helpers for disk_store tests: a temporary directory, an engine on a chosen backend, and a
// synchronous open that runs the io_context until the store is ready.
#pragma once

#include <stdlib.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include "larder/disk_store.hpp"
#include "larder/io_engine.hpp"

namespace larder::testing {

// A unique directory under $LARDER_TEST_TMP (or /tmp), removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    const char* base = std::getenv("LARDER_TEST_TMP");
    std::string pattern = std::string(base && *base ? base : "/tmp") + "/larder-disk-XXXXXX";
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// io_uring may be refused where the tests run (seccomp in a container): then fall back to
// the thread pool, and say so.
inline std::shared_ptr<io_engine> make_engine(asio::io_context& io, io_backend kind) {
  try {
    return io_engine::create(io, {.backend = kind});
  } catch (const std::system_error& e) {
    WARN("io_uring unavailable here, using the thread pool: " << e.what());
    return io_engine::create(io, {.backend = io_backend::thread_pool});
  }
}

// Opens a store, running `io` until it is open (nothing else may be running on it).
inline result<std::unique_ptr<disk_store>> open_now(asio::io_context& io,
                                                    std::shared_ptr<io_engine> engine,
                                                    disk_store_options options) {
  result<std::unique_ptr<disk_store>> out = errc::cancelled;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        out = co_await disk_store::open(std::move(engine), std::move(options));
      },
      asio::detached);
  io.run();
  io.restart();
  return out;
}

// Runs `body` on `io` until it is done.
template <class F>
inline void run_now(asio::io_context& io, F body) {
  asio::co_spawn(io, std::move(body), asio::detached);
  io.run();
  io.restart();
}

// One io_context and engine per "process" (open_now runs until the scan is done, so each
// store below has its whole index when the test goes on).
struct session {
  asio::io_context io;
  std::shared_ptr<io_engine> engine;
  std::unique_ptr<disk_store> store;
  session(io_backend b, disk_store_options options) : engine(make_engine(io, b)) {
    auto opened = open_now(io, engine, std::move(options));
    REQUIRE(opened.has_value());
    store = std::move(*opened);
  }
  template <class F>
  void run(F body) {
    run_now(io, std::move(body));
  }
  std::error_code save() {
    std::error_code out = errc::cancelled;
    run([&]() -> asio::awaitable<void> { out = co_await store->save_index(); });
    return out;
  }
};

// Backend tags for TEMPLATE_TEST_CASE over both io engines (TestType::value).
template <io_backend B>
struct backend {
  static constexpr io_backend value = B;
};
using uring = backend<io_backend::io_uring>;
using pool = backend<io_backend::thread_pool>;

// A store over a fresh directory, for the conformance suite and the disk tests.
template <io_backend Backend>
struct disk_fixture {
  static constexpr bool retains = true;
  explicit disk_fixture(asio::io_context& io, disk_store_options options = {})
      : io_(io), engine_(make_engine(io, Backend)), options_(std::move(options)) {
    options_.root = dir_.path() + "/cache";
    reopen();
  }
  ~disk_fixture() {
    // The store and the engine go before the io_context (owned by the test's runner).
    store_.reset();
    engine_.reset();
  }
  disk_store& store() { return *store_; }
  io_engine& engine() { return *engine_; }
  const std::string& root() const { return options_.root; }
  disk_store_options& options() { return options_; }

  // Closes the store (if open) and opens a new one over the same directory.
  void reopen() {
    store_.reset();
    auto opened = open_now(io_, engine_, options_);
    REQUIRE(opened.has_value());
    store_ = std::move(*opened);
  }
  void close() { store_.reset(); }

 private:
  temp_dir dir_;
  asio::io_context& io_;
  std::shared_ptr<io_engine> engine_;
  disk_store_options options_;
  std::unique_ptr<disk_store> store_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace larder::testing
