// compile_cache on real gcc compiles: miss then hit with an identical object, stats kept
// across processes, passthrough of a link, a failing compile's exit code, a changed source.
// COMPILE_CACHE names the wrapper and CC the compiler (set by examples/meson.build).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "support/spawn.hpp"

namespace fs = std::filesystem;
using larder::test::run_process;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct sandbox {
  sandbox() {
    std::string pattern = (fs::temp_directory_path() / "larder-ccache-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    dir = pattern;
    // The wrapper reads its cache directory from the environment it inherits.
    ::setenv("LARDER_COMPILE_CACHE_DIR", (dir / "cache").c_str(), 1);
  }
  ~sandbox() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  larder::test::process_result wrap(std::vector<std::string> args) {
    args.insert(args.begin(), std::getenv("COMPILE_CACHE"));
    return run_process(args);
  }
  std::string stats() { return wrap({"--stats"}).out; }
  fs::path dir;
};

std::string cc() {
  const char* c = std::getenv("CC");
  return c ? c : "gcc";
}

}  // namespace

TEST_CASE("compile_cache serves the second identical compile from the cache") {
  REQUIRE(std::getenv("COMPILE_CACHE") != nullptr);
  sandbox box;
  const auto src = (box.dir / "hello.c").string();
  std::ofstream(src) << "#include <stdio.h>\n"
                        "int answer(void) { return 42; }\n"
                        "int main(void) { printf(\"%d\\n\", answer()); return 0; }\n";
  const auto o1 = (box.dir / "first.o").string(), o2 = (box.dir / "second.o").string();

  auto first = box.wrap({cc(), "-O2", "-Wall", "-c", src, "-o", o1});
  REQUIRE(first.exit_code == 0);
  CHECK(box.stats().find("misses           1\n") != std::string::npos);
  auto second = box.wrap({cc(), "-O2", "-Wall", "-c", src, "-o", o2});
  REQUIRE(second.exit_code == 0);
  const auto stats = box.stats();
  CHECK(stats.find("hits             1\n") != std::string::npos);
  CHECK(stats.find("misses           1\n") != std::string::npos);
  REQUIRE(fs::exists(o2));
  CHECK(read_file(o1) == read_file(o2));
  CHECK(!read_file(o1).empty());

  // The cached object links like the compiled one.
  const auto exe = (box.dir / "hello").string();
  auto link = box.wrap({cc(), o2, "-o", exe});
  CHECK(link.exit_code == 0);
  CHECK(box.stats().find("passthroughs     1\n") != std::string::npos);
  CHECK(run_process({exe}).out == "42\n");

  // A changed source is a miss, not a stale hit.
  std::ofstream(src, std::ios::app) << "int extra(void) { return 1; }\n";
  REQUIRE(box.wrap({cc(), "-O2", "-Wall", "-c", src, "-o", o1}).exit_code == 0);
  CHECK(box.stats().find("misses           2\n") != std::string::npos);
  CHECK(read_file(o1) != read_file(o2));
}

TEST_CASE("compile_cache returns the compiler's exit code and passes unsafe flags through") {
  REQUIRE(std::getenv("COMPILE_CACHE") != nullptr);
  sandbox box;
  const auto bad = (box.dir / "bad.c").string();
  std::ofstream(bad) << "int main(void) { return undeclared; }\n";
  auto failed = box.wrap({cc(), "-c", bad, "-o", (box.dir / "bad.o").string()});
  CHECK(failed.exit_code != 0);
  CHECK(failed.err.find("undeclared") != std::string::npos);
  CHECK(box.stats().find("errors           1\n") != std::string::npos);

  const auto good = (box.dir / "good.c").string();
  std::ofstream(good) << "int f(void) { return 3; }\n";
  const auto obj = (box.dir / "good.o").string();
  auto with_deps = box.wrap({cc(), "-MD", "-c", good, "-o", obj});
  CHECK(with_deps.exit_code == 0);
  CHECK(fs::exists(box.dir / "good.d"));  // the compiler itself ran and wrote it
  CHECK(box.stats().find("passthroughs     1\n") != std::string::npos);
}
