// render_cache: a render server's pipeline cache on larder.
//   render_cache [--root DIR] [--requests N] [--workers N]
// Pipeline descriptions are fingerprinted from their canonical bytes (canonical<T> below),
// so two spellings of one pipeline (defines inserted in another order) share one compiled
// program. Many coroutines request pipelines at once; get_or_load compiles each distinct one
// exactly once (single flight) on a compile pool, memory over disk keeps the results. A
// second run over the same root stands for a restarted server: nothing is compiled, every
// program comes from disk (and is promoted into memory).
#include <asio/co_spawn.hpp>
#include <asio/experimental/concurrent_channel.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "larder/canonical.hpp"
#include "larder/fingerprint.hpp"
#include "larder/hasher.hpp"
#include "larder/open_default.hpp"

namespace {

enum class blend_mode : std::uint8_t { opaque, alpha, additive };

// What a renderer asks for. `defines` is an ordered map, so the order a caller inserted
// them in cannot change the fingerprint.
struct pipeline_desc {
  std::string vertex_shader;
  std::string fragment_shader;
  blend_mode blend = blend_mode::opaque;
  std::uint32_t sample_count = 1;
  std::vector<std::uint32_t> vertex_layout;  // attribute formats, in binding order
  std::map<std::string, std::string> defines;
};

}  // namespace

// The canonical bytes: a schema tag (bump it when the compiler or the layout changes), then
// every field that changes the compiled program, each with its own length or fixed width.
template <>
struct larder::canonical<pipeline_desc> {
  static void append(hasher& h, const pipeline_desc& d) {
    canonical<std::string_view>::append(h, "render_cache.pipeline.v1");
    canonical<std::string>::append(h, d.vertex_shader);
    canonical<std::string>::append(h, d.fragment_shader);
    canonical<blend_mode>::append(h, d.blend);
    canonical<std::uint32_t>::append(h, d.sample_count);
    canonical<std::vector<std::uint32_t>>::append(h, d.vertex_layout);
    canonical<std::map<std::string, std::string>>::append(h, d.defines);
  }
};

namespace {

// The catalogue: 4 shader pairs x 3 blend modes x 2 sample counts x 2 define sets = 48.
std::vector<pipeline_desc> catalogue() {
  static const char* const shaders[][2] = {{"mesh.vert", "pbr.frag"},
                                           {"mesh.vert", "unlit.frag"},
                                           {"skinned.vert", "pbr.frag"},
                                           {"sprite.vert", "sprite.frag"}};
  std::vector<pipeline_desc> out;
  for (const auto& s : shaders)
    for (auto blend : {blend_mode::opaque, blend_mode::alpha, blend_mode::additive})
      for (std::uint32_t samples : {1u, 4u})
        for (int variant = 0; variant < 2; ++variant) {
          pipeline_desc d;
          d.vertex_shader =
              std::string("// ") + s[0] + "\nvoid main() { gl_Position = mvp * pos; }";
          d.fragment_shader = std::string("// ") + s[1] + "\nvoid main() { color = shade(); }";
          d.blend = blend;
          d.sample_count = samples;
          d.vertex_layout = {3, 3, 2};
          d.defines["MAX_LIGHTS"] = "8";
          if (variant == 1) d.defines["USE_SHADOWS"] = "1";
          out.push_back(std::move(d));
        }
  return out;
}

// The same pipeline spelt differently: defines inserted in reverse order.
pipeline_desc respelt(const pipeline_desc& d) {
  pipeline_desc copy = d;
  copy.defines.clear();
  for (auto it = d.defines.rbegin(); it != d.defines.rend(); ++it)
    copy.defines.emplace(it->first, it->second);
  return copy;
}

struct shared_state {
  asio::thread_pool compile_pool{2};
  std::atomic<std::uint64_t> compiles{0}, requests{0}, wrong_bytes{0}, faults{0};
  std::mutex mutex;
  std::map<larder::fingerprint, larder::fingerprint> program_digest;  // key -> bytes' digest
};

// A stand-in compiler: deterministic output (a function of the description's fingerprint
// only) and real CPU work, on the compile pool so the io threads keep serving hits.
asio::awaitable<larder::result<larder::blob>> compile(shared_state& state, larder::fingerprint id) {
  auto home = co_await asio::this_coro::executor;
  co_await asio::post(state.compile_pool, asio::use_awaitable);
  state.compiles.fetch_add(1, std::memory_order_relaxed);
  larder::blob_buffer program(16 * 1024);
  auto seed = id;
  for (std::size_t off = 0; off < program.size(); off += larder::fingerprint::size) {
    // Many rounds per block: the cost of an optimising shader compiler, in miniature.
    for (int round = 0; round < 200; ++round)
      seed = larder::fingerprint::of(std::as_bytes(std::span(seed.bytes())));
    std::memcpy(program.data() + off, seed.bytes().data(), larder::fingerprint::size);
  }
  co_await asio::post(home, asio::use_awaitable);
  co_return std::move(program).freeze();
}

// One render thread's stream of pipeline requests, from a fixed seed.
asio::awaitable<void> render_worker(larder::layered_store& cache, shared_state& state,
                                    const std::vector<pipeline_desc>& pipelines, unsigned seed,
                                    unsigned requests) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (unsigned i = 0; i < requests; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    const auto& base = pipelines[x % pipelines.size()];
    const pipeline_desc desc = (x >> 32) & 1 ? respelt(base) : base;
    const auto id = larder::fingerprint::of_value(desc);
    auto loader = [&state, id] { return compile(state, id); };
    auto program = co_await cache.get_or_load(id.key(), loader);
    state.requests.fetch_add(1, std::memory_order_relaxed);
    if (!program) {
      state.faults.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    // Whatever served it (compile, memory, disk), the bytes must be the program's.
    const auto digest = larder::fingerprint::of(program->bytes());
    std::lock_guard lock(state.mutex);
    auto [it, first] = state.program_digest.try_emplace(id, digest);
    if (!first && it->second != digest) state.wrong_bytes.fetch_add(1);
  }
}

struct run_report {
  std::uint64_t compiles = 0, requests = 0, disk_hits = 0;
  double seconds = 0;
  bool ok = false;
};

asio::awaitable<run_report> serve(asio::io_context& io, shared_state& state, std::string root,
                                  unsigned workers, unsigned requests) {
  run_report report;
  larder::default_cache_options options;
  options.root = std::move(root);
  auto opened = co_await larder::open_default(io, options);
  if (!opened) {
    std::fprintf(stderr, "render_cache: cannot open the cache: %s\n",
                 opened.error().message().c_str());
    co_return report;
  }
  auto& cache = **opened;
  const auto pipelines = catalogue();
  const auto compiles_before = state.compiles.load();
  const auto requests_before = state.requests.load();
  const auto start = std::chrono::steady_clock::now();
  auto executor = co_await asio::this_coro::executor;
  std::atomic<unsigned> running{workers};
  // The workers finish on either io thread: a thread-safe channel.
  asio::experimental::concurrent_channel<void(std::error_code, int)> done(executor, 1);
  for (unsigned w = 0; w < workers; ++w)
    asio::co_spawn(executor, render_worker(cache, state, pipelines, w + 1, requests),
                   [&](std::exception_ptr) {
                     if (running.fetch_sub(1) == 1) done.try_send(std::error_code{}, 0);
                   });
  co_await done.async_receive(asio::use_awaitable);
  if (auto ec = co_await cache.flush())
    std::fprintf(stderr, "render_cache: flush failed: %s\n", ec.message().c_str());
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.compiles = state.compiles.load() - compiles_before;
  report.requests = state.requests.load() - requests_before;
  const auto tiers = cache.tiers();
  report.disk_hits = tiers.back().metrics.hits;
  report.ok = true;
  co_return report;
}

void print(const char* name, const run_report& r, std::size_t distinct) {
  std::printf(
      "%-16s %llu requests, %zu distinct pipelines: %llu compiled, %llu served from "
      "the cache (%llu read from disk), %.2f s\n",
      name, static_cast<unsigned long long>(r.requests), distinct,
      static_cast<unsigned long long>(r.compiles),
      static_cast<unsigned long long>(r.requests - r.compiles),
      static_cast<unsigned long long>(r.disk_hits), r.seconds);
}

}  // namespace

int main(int argc, char** argv) {
  std::string root;
  unsigned workers = 16, requests = 60;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--root")
      root = argv[i + 1];
    else if (flag == "--workers")
      workers = static_cast<unsigned>(std::atoi(argv[i + 1]));
    else if (flag == "--requests")
      requests = static_cast<unsigned>(std::atoi(argv[i + 1]));
    else
      argc = -1;
  }
  if (argc < 0 || argc % 2 == 0 || workers == 0) {
    std::fprintf(stderr, "usage: render_cache [--root DIR] [--workers N] [--requests N]\n");
    return 2;
  }
  const bool temporary = root.empty();
  if (temporary) {
    std::string pattern = (std::filesystem::temp_directory_path() / "larder-render-XXXXXX");
    if (!::mkdtemp(pattern.data())) {
      std::perror("render_cache: mkdtemp");
      return 1;
    }
    root = pattern;
  }
  shared_state state;
  const std::size_t distinct = catalogue().size();
  run_report runs[2];
  for (int run = 0; run < 2; ++run) {
    // A fresh io_context per run: the second is a restarted server with an empty memory tier.
    asio::io_context io;
    asio::co_spawn(io, serve(io, state, root, workers, requests),
                   [&](std::exception_ptr e, run_report r) {
                     if (!e) runs[run] = r;
                   });
    std::thread helper([&io] { io.run(); });
    io.run();
    helper.join();
  }
  state.compile_pool.join();
  if (temporary) std::filesystem::remove_all(root);
  print("first run:", runs[0], distinct);
  print("after restart:", runs[1], distinct);
  std::printf("wrong bytes: %llu, faults: %llu\n",
              static_cast<unsigned long long>(state.wrong_bytes.load()),
              static_cast<unsigned long long>(state.faults.load()));
  // Single flight: each pipeline compiled once however many coroutines wanted it; after the
  // restart, nothing compiled at all.
  const bool ok = runs[0].ok && runs[1].ok && runs[0].compiles == distinct &&
                  runs[1].compiles == 0 && runs[1].disk_hits >= distinct &&
                  state.wrong_bytes == 0 && state.faults == 0;
  return ok ? 0 : 1;
}
