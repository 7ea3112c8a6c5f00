// compile_cache: a compiler wrapper in the spirit of ccache, on a larder disk_store.
//   compile_cache gcc -c foo.c -o foo.o     serve foo.o from the cache, or compile and store it
//   compile_cache -s | -z | -M SIZE | -C    stats, zero them, bound the size, clear
//   gcc -> compile_cache (a symlink before the real gcc on PATH): masquerading, as ccache
// The key hashes the compiler's identity (resolved path, size, modification time), the
// arguments without the output path, the working directory when -g records it, and the
// preprocessed source (the compiler run with -E and the same flags). A value is the object
// file, the dependency file of -MD / -MMD when asked for, and the compiler's stderr,
// replayed on a hit so warnings are not lost. Anything that is not a single-source compile
// with known options runs unchanged ("passthrough"), and so does a source whose object
// depends on files its preprocessed text does not show (`.incbin`, C++ modules); the exit
// code is always the compiler's.
//
// Cache directory: $LARDER_COMPILE_CACHE_DIR, else <larder default root>/compile; objects
// in <dir>/objects (a disk_store root: `larder stats <dir>/objects` works), counters in
// <dir>/stats. Puts are not flushed: a crash can at worst tear an entry, which its checksum
// turns into a miss. A hit reads its entry's path and never builds the store's index; a
// miss builds it (to evict to the bound) and saves it when no other run has the directory
// open, so the next run loads it instead of reading every entry.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "artifact.hpp"
#include "command_line.hpp"
#include "larder/canonical.hpp"
#include "larder/disk_store.hpp"
#include "larder/fingerprint.hpp"
#include "larder/hasher.hpp"
#include "process.hpp"
#include "settings.hpp"
#include "stats.hpp"

namespace {

using compile_cache::artifacts;
using compile_cache::outcome;
using compile_cache::read_whole;
using compile_cache::write_atomically;

struct paths {
  std::string dir, objects, stats;
};

std::optional<paths> cache_paths() {
  std::string dir;
  if (const char* env = std::getenv("LARDER_COMPILE_CACHE_DIR"); env && *env) {
    dir = std::filesystem::absolute(env).lexically_normal().string();
  } else {
    auto root = larder::disk_store::default_root();
    if (!root) return std::nullopt;
    dir = *root + "/compile";
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return std::nullopt;
  return paths{dir, dir + "/objects", dir + "/stats"};
}

// This executable, resolved: a PATH entry that is compile_cache itself (a symlink named
// gcc, as ccache's masquerading setup makes) is never taken for the compiler.
std::string self_path() {
  std::error_code ec;
  auto p = std::filesystem::canonical("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

// The compiler as the kernel will find it: PATH search for a bare name, then realpath,
// skipping compile_cache itself.
std::optional<std::string> resolve(const std::string& program) {
  static const std::string self = self_path();
  std::vector<std::string> candidates;
  if (program.find('/') != std::string::npos) {
    candidates.push_back(program);
  } else if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (!rest.empty()) {
      const auto colon = rest.find(':');
      std::string d(rest.substr(0, colon));
      candidates.push_back((d.empty() ? "." : d) + "/" + program);
      rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
  }
  for (const auto& c : candidates)
    if (::access(c.c_str(), X_OK) == 0) {
      std::error_code ec;
      auto real = std::filesystem::canonical(c, ec);
      if (!ec && real.string() != self) return real.string();
    }
  return std::nullopt;
}

std::optional<larder::fingerprint> compute_key(const std::string& compiler,
                                               const compile_cache::cacheable_compile& c,
                                               const std::string& preprocessed) {
  const auto real = resolve(compiler);
  struct stat st {};
  if (!real || ::stat(real->c_str(), &st) != 0) return std::nullopt;
  larder::hasher h;
  // Bump the tag whenever the key's recipe or the value's layout changes.
  larder::canonical<std::string_view>::append(h, "compile_cache.v2");
  larder::canonical<std::string>::append(h, *real);
  larder::canonical<std::int64_t>::append(h, static_cast<std::int64_t>(st.st_size));
  larder::canonical<std::int64_t>::append(h, st.st_mtim.tv_sec);
  larder::canonical<std::int64_t>::append(h, st.st_mtim.tv_nsec);
  larder::canonical<std::vector<std::string>>::append(h, c.key_args);
  // Debug information names the directory the compile ran in.
  std::error_code ec;
  const std::string cwd = c.debug_info ? std::filesystem::current_path(ec).string() : "";
  larder::canonical<std::string>::append(h, cwd);
  larder::canonical<std::string>::append(h, preprocessed);
  return h.finalize();
}

// Runs `work` to completion on `io`; the coroutine must own the io engine and the store so
// that nothing keeps the io_context busy after it (an exception is exit code 1).
int sync(asio::io_context& io, asio::awaitable<int> work) {
  int code = 1;
  asio::co_spawn(io, std::move(work), [&code](std::exception_ptr e, int value) {
    if (!e) code = value;
  });
  io.run();
  return code;
}

// The size bound: LARDER_COMPILE_CACHE_MAX_BYTES, else what `compile_cache -M` saved in
// <dir>/max-size, else 5 GiB. A value that is not a size is reported (naming it) and the
// default used: a misconfigured cache must not break the build.
std::uint64_t max_bytes(const std::string& dir) {
  constexpr std::uint64_t fallback = 5ull << 30;
  std::string text, from;
  if (const char* env = std::getenv("LARDER_COMPILE_CACHE_MAX_BYTES"); env && *env) {
    text = env;
    from = "LARDER_COMPILE_CACHE_MAX_BYTES";
  } else if (std::ifstream in(dir + "/max-size"); in >> text) {
    from = dir + "/max-size";
  } else {
    return fallback;
  }
  const auto size = compile_cache::parse_size(text);
  if (size && *size > 0) return *size;
  std::fprintf(stderr,
               "compile_cache: %s is '%s', not a size (write it as 5G, 500M, 64K or bytes); "
               "using 5G\n",
               from.c_str(), text.c_str());
  return fallback;
}

asio::awaitable<larder::result<std::unique_ptr<larder::disk_store>>> open_store(
    std::shared_ptr<larder::io_engine> engine, std::string root, std::uint64_t limit) {
  larder::disk_store_options options;
  options.root = std::move(root);
  options.max_bytes = limit;
  options.max_value_size = 256ull << 20;
  options.index_on_demand = true;  // a hit never needs it; a miss waits for it (eviction)
  co_return co_await larder::disk_store::open(std::move(engine), std::move(options));
}

// The compiler's stderr as the user's terminal wants it: coloured only on a terminal.
void replay(std::string_view err) {
  if (err.empty()) return;
  if (::isatty(STDERR_FILENO) == 1) {
    std::fwrite(err.data(), 1, err.size(), stderr);
  } else {
    const auto plain = compile_cache::strip_colour(err);
    std::fwrite(plain.data(), 1, plain.size(), stderr);
  }
}

int passthrough(const std::vector<std::string>& argv, const paths& where, outcome what) {
  const auto r = compile_cache::run(argv, false, false);
  compile_cache::record(where.stats, what);
  if (r.error) {
    std::fprintf(stderr, "compile_cache: cannot run %s: %s\n", argv[0].c_str(),
                 r.error.message().c_str());
    return 127;
  }
  return r.exit_code;
}

asio::awaitable<int> print_store(asio::io_context& io, std::string root, std::uint64_t limit) {
  // Named locals, not temporaries inside the co_await: GCC 12 destroys those twice.
  auto engine = larder::io_engine::create(io);
  auto store = co_await open_store(std::move(engine), std::move(root), limit);
  if (!store) co_return 1;
  if (const auto ec = co_await (*store)->index_ready()) {
    std::fprintf(stderr, "compile_cache: indexing the cache: %s\n", ec.message().c_str());
    co_return 1;
  }
  const auto m = (*store)->metrics();
  std::printf("objects          %llu entries, %llu bytes (bound %llu)\n",
              static_cast<unsigned long long>(m.entries), static_cast<unsigned long long>(m.bytes),
              static_cast<unsigned long long>(limit));
  co_return 0;
}

// compile_cache -C: every object goes.
asio::awaitable<int> clear_store(asio::io_context& io, std::string root, std::uint64_t limit) {
  auto engine = larder::io_engine::create(io);
  auto store = co_await open_store(std::move(engine), std::move(root), limit);
  if (!store) co_return 1;
  const auto removed = co_await (*store)->invalidate_prefix("");
  if (!removed) {
    std::fprintf(stderr, "compile_cache: clearing the cache: %s\n",
                 removed.error().message().c_str());
    co_return 1;
  }
  std::printf("removed %llu objects\n", static_cast<unsigned long long>(*removed));
  co_return 0;
}

int print_stats(const paths& where) {
  std::error_code ec;
  const auto c = compile_cache::load(where.stats, ec);
  if (ec)
    std::fprintf(stderr, "compile_cache: reading %s: %s\n", where.stats.c_str(),
                 ec.message().c_str());
  std::printf(
      "cache directory  %s\nhits             %llu\nmisses           %llu\n"
      "passthroughs     %llu\nerrors           %llu\n",
      where.dir.c_str(), static_cast<unsigned long long>(c.hits),
      static_cast<unsigned long long>(c.misses), static_cast<unsigned long long>(c.passthroughs),
      static_cast<unsigned long long>(c.errors));
  asio::io_context io;
  sync(io, print_store(io, where.objects, max_bytes(where.dir)));
  return ec ? 1 : 0;
}

// Serves the object from the store, or compiles (blocking: this process does nothing else
// meanwhile) and stores it. Returns the exit code.
asio::awaitable<int> cached_compile(asio::io_context& io, std::vector<std::string> argv,
                                    paths where, compile_cache::cacheable_compile c,
                                    std::string key) {
  auto engine = larder::io_engine::create(io);
  std::string root = where.objects;
  auto opened = co_await open_store(std::move(engine), std::move(root), max_bytes(where.dir));
  if (!opened) {
    std::fprintf(stderr, "compile_cache: cannot open %s: %s\n", where.objects.c_str(),
                 opened.error().message().c_str());
    co_return passthrough(argv, where, outcome::error);
  }
  auto& store = **opened;
  const auto found = co_await store.get(key);
  if (found.is_hit()) {
    const auto bytes = found.value().bytes();
    artifacts a;
    if (compile_cache::decode({reinterpret_cast<const char*>(bytes.data()), bytes.size()}, a) &&
        (c.dep_file.empty() || write_atomically(c.dep_file, a.deps)) &&
        write_atomically(c.output, a.object)) {
      replay(a.err);
      compile_cache::record(where.stats, outcome::hit);
      co_return 0;
    }
  }
  // A miss (or an unusable hit): compile for real, keeping stderr to replay on later hits.
  // Its stderr is a pipe, so the compiler would drop colour a terminal user expects.
  auto command = argv;
  if (compile_cache::wants_colour(argv)) command.push_back("-fdiagnostics-color=always");
  const auto compiled = compile_cache::run(command, false, true);
  replay(compiled.err);
  if (compiled.error || compiled.exit_code != 0) {
    compile_cache::record(where.stats, outcome::error);
    co_return compiled.error ? 127 : compiled.exit_code;
  }
  const auto object = read_whole(c.output);
  const auto deps = c.dep_file.empty() ? std::optional<std::string>("") : read_whole(c.dep_file);
  std::error_code ec = make_error_code(std::errc::io_error);
  if (object && deps) {
    auto value = larder::blob::copy_of(compile_cache::encode(compiled.err, *deps, *object));
    ec = co_await store.put(key, std::move(value));
    // Stay for the index (eviction to the bound needs it; a hit need not), then save it for
    // the next process (refused, quietly, while other compiles have the cache open).
    std::error_code saved;
    if (!ec) ec = co_await store.index_ready();
    if (!ec) saved = co_await store.save_index();
    if (saved && saved != larder::errc::directory_shared)
      std::fprintf(stderr, "compile_cache: index not saved: %s\n", saved.message().c_str());
  }
  if (ec) std::fprintf(stderr, "compile_cache: not cached: %s\n", ec.message().c_str());
  compile_cache::record(where.stats, ec ? outcome::error : outcome::miss);
  co_return 0;
}

int compile(const std::vector<std::string>& argv, const paths& where) {
  const std::vector<std::string> args(argv.begin() + 1, argv.end());
  const auto analysis = compile_cache::analyse(args);
  if (std::getenv("LARDER_COMPILE_CACHE_DEBUG") && !analysis.compile)
    std::fprintf(stderr, "compile_cache: passthrough: %s\n", analysis.reason.c_str());
  if (!analysis.compile) return passthrough(argv, where, outcome::passthrough);
  const auto& c = *analysis.compile;

  std::vector<std::string> pre{argv[0]};
  pre.insert(pre.end(), c.preprocess_args.begin(), c.preprocess_args.end());
  const auto preprocessed = compile_cache::run(pre, true, true);
  // A source that does not preprocess will not compile: let the compiler say why.
  if (preprocessed.error || preprocessed.exit_code != 0)
    return passthrough(argv, where, outcome::error);
  // `.incbin` assembles a file into the object that the preprocessed text only names:
  // its contents are not in the key, so such a compile is never cached (as ccache does).
  if (preprocessed.out.find(".incbin") != std::string::npos) {
    if (std::getenv("LARDER_COMPILE_CACHE_DEBUG"))
      std::fprintf(stderr, "compile_cache: passthrough: the source uses .incbin\n");
    return passthrough(argv, where, outcome::passthrough);
  }
  const auto key = compute_key(argv[0], c, preprocessed.out);
  if (!key) return passthrough(argv, where, outcome::passthrough);
  const std::string store_key = "obj/" + key->to_hex();

  asio::io_context io;
  return sync(io, cached_compile(io, argv, where, c, store_key));
}

int usage(FILE* to) {
  std::fprintf(to,
               "usage: compile_cache COMPILER ARGS...   compile through the cache\n"
               "       compile_cache -s | --stats       hits, misses, passthroughs, size\n"
               "       compile_cache -z | --zero-stats  reset the counters\n"
               "       compile_cache -M | --max-size SIZE  keep at most SIZE (5G, 500M)\n"
               "       compile_cache -C | --clear       remove every cached object\n"
               "or as a symlink named after the compiler (gcc -> compile_cache) placed\n"
               "before it on PATH. Cache directory: $LARDER_COMPILE_CACHE_DIR, else\n"
               "<larder cache>/compile; size: $LARDER_COMPILE_CACHE_MAX_BYTES or -M.\n");
  return to == stderr ? 2 : 0;
}

int manage(const compile_cache::management& m, const paths& where) {
  using action = compile_cache::management::action;
  switch (m.what) {
    case action::help:
      return usage(stdout);
    case action::stats:
      return print_stats(where);
    case action::zero_stats: {
      const auto ec = compile_cache::reset(where.stats);
      if (ec)
        std::fprintf(stderr, "compile_cache: %s: %s\n", where.stats.c_str(), ec.message().c_str());
      return ec ? 1 : 0;
    }
    case action::max_size: {
      std::ofstream out(where.dir + "/max-size", std::ios::trunc);
      out << m.size << "\n";
      if (!out.flush()) {
        std::fprintf(stderr, "compile_cache: cannot write %s/max-size\n", where.dir.c_str());
        return 1;
      }
      std::printf("max size %llu bytes\n", static_cast<unsigned long long>(m.size));
      return 0;
    }
    case action::clear: {
      asio::io_context io;
      return sync(io, clear_store(io, where.objects, max_bytes(where.dir)));
    }
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Called through a symlink named after the compiler: that name is the compiler, found
  // on PATH past this executable (resolve skips it), run by its real path.
  const std::string invoked = std::filesystem::path(argv[0]).filename().string();
  if (invoked != "compile_cache") {
    const auto real = resolve(invoked);
    if (!real) {
      std::fprintf(stderr, "compile_cache: invoked as %s, but no other %s is on PATH\n",
                   invoked.c_str(), invoked.c_str());
      return 127;
    }
    args.insert(args.begin(), *real);
  }
  if (args.empty()) return usage(stderr);
  const auto management = compile_cache::parse_management(args);
  if (management && !management->error.empty()) {
    std::fprintf(stderr, "compile_cache: %s\n", management->error.c_str());
    return usage(stderr);
  }
  const auto where = cache_paths();
  if (!where) {
    std::fprintf(stderr,
                 "compile_cache: no usable cache directory (set "
                 "LARDER_COMPILE_CACHE_DIR)\n");
    // Still build: a cache that cannot work must not break the compile.
    if (management) return 1;
    return compile_cache::run(args, false, false).exit_code;
  }
  if (management) return manage(*management, *where);
  return compile(args, *where);
}
