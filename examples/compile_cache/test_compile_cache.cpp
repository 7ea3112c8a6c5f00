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
  auto deps_only = box.wrap({cc(), "-MM", good});
  CHECK(deps_only.exit_code == 0);
  CHECK(deps_only.out.find("good.o:") != std::string::npos);  // the compiler itself ran
  CHECK(box.stats().find("passthroughs     1\n") != std::string::npos);
}

TEST_CASE("compile_cache caches the dependency file of -MD / -MMD with the object") {
  REQUIRE(std::getenv("COMPILE_CACHE") != nullptr);
  sandbox box;
  const auto header = box.dir / "conf.h";
  std::ofstream(header) << "#define VALUE 5\n";
  const auto src = (box.dir / "dep.c").string();
  std::ofstream(src) << "#include \"conf.h\"\nint v(void) { return VALUE; }\n";
  const auto obj = (box.dir / "dep.o").string();
  const auto depfile = box.dir / "deps" / "dep.o.d";
  fs::create_directories(depfile.parent_path());
  const std::vector<std::string> command{cc(), "-MD", "-MT", "dep.o", "-MF", depfile.string(),
                                         "-c", src,   "-o",  obj};
  REQUIRE(box.wrap(command).exit_code == 0);
  const auto first_deps = read_file(depfile);
  CHECK(first_deps.find("conf.h") != std::string::npos);
  const auto first_object = read_file(obj);
  fs::remove(depfile);
  fs::remove(obj);
  REQUIRE(box.wrap(command).exit_code == 0);
  const auto stats = box.stats();
  CHECK(stats.find("hits             1\n") != std::string::npos);
  REQUIRE(fs::exists(depfile));  // restored by the hit
  CHECK(read_file(depfile) == first_deps);
  CHECK(read_file(obj) == first_object);
  // The default place (the object's name with .d) and -MMD work the same way.
  const auto obj2 = (box.dir / "other.o").string();
  REQUIRE(box.wrap({cc(), "-MMD", "-c", src, "-o", obj2}).exit_code == 0);
  CHECK(read_file(box.dir / "other.d").find("other.o:") != std::string::npos);
  // A changed header is a miss: its text is in the preprocessed source.
  std::ofstream(header) << "#define VALUE 6\n";
  REQUIRE(box.wrap(command).exit_code == 0);
  CHECK(box.stats().find("hits             1\n") != std::string::npos);
  CHECK(read_file(obj) != first_object);
}

TEST_CASE("compile_cache never serves an object whose .incbin input changed") {
  REQUIRE(std::getenv("COMPILE_CACHE") != nullptr);
  sandbox box;
  const auto data = box.dir / "data.bin";
  std::ofstream(data) << "first contents";
  const auto src = (box.dir / "blob.c").string();
  std::ofstream(src) << "__asm__(\".section .rodata\\n.incbin \\\"" << data.string()
                     << "\\\"\\n.previous\");\nint f(void) { return 1; }\n";
  const auto o1 = (box.dir / "one.o").string(), o2 = (box.dir / "two.o").string();
  REQUIRE(box.wrap({cc(), "-c", src, "-o", o1}).exit_code == 0);
  std::ofstream(data) << "other contents, longer";
  REQUIRE(box.wrap({cc(), "-c", src, "-o", o2}).exit_code == 0);
  CHECK(read_file(o1) != read_file(o2));  // a stale hit would be the first object
  const auto stats = box.stats();
  CHECK(stats.find("hits             0\n") != std::string::npos);
  CHECK(stats.find("passthroughs     2\n") != std::string::npos);
}

TEST_CASE("compile_cache runs C++ module compiles uncached") {
  REQUIRE(std::getenv("COMPILE_CACHE") != nullptr);
  sandbox box;
  const auto src = (box.dir / "m.c").string();
  std::ofstream(src) << "int g(void) { return 2; }\n";
  const auto obj = (box.dir / "m.o").string();
  for (int i = 0; i < 2; ++i)
    REQUIRE(box.wrap({cc(), "-fmodules-ts", "-c", src, "-o", obj}).exit_code == 0);
  CHECK(box.stats().find("passthroughs     2\n") != std::string::npos);
}

TEST_CASE("compile_cache management options: -z, -M with sizes, refused options") {
  REQUIRE(std::getenv("COMPILE_CACHE") != nullptr);
  sandbox box;
  const auto src = (box.dir / "s.c").string();
  std::ofstream(src) << "int h(void) { return 3; }\n";
  REQUIRE(box.wrap({cc(), "-c", src, "-o", (box.dir / "s.o").string()}).exit_code == 0);
  CHECK(box.stats().find("misses           1\n") != std::string::npos);
  CHECK(box.wrap({"-z"}).exit_code == 0);
  CHECK(box.stats().find("misses           0\n") != std::string::npos);
  auto sized = box.wrap({"-M", "5G"});
  CHECK(sized.exit_code == 0);
  CHECK(box.wrap({"-s"}).out.find("(bound 5368709120)") != std::string::npos);
  ::setenv("LARDER_COMPILE_CACHE_MAX_BYTES", "5X", 1);
  auto bad_size = box.wrap({"-s"});
  ::unsetenv("LARDER_COMPILE_CACHE_MAX_BYTES");
  CHECK(bad_size.err.find("'5X', not a size") != std::string::npos);
  auto unknown = box.wrap({"-q"});
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.err.find("unknown option -q") != std::string::npos);
  CHECK(box.wrap({"-C"}).out.find("removed 1 objects") != std::string::npos);
}

TEST_CASE("compile_cache as a symlink named gcc before the real one on PATH") {
  REQUIRE(std::getenv("COMPILE_CACHE") != nullptr);
  sandbox box;
  const auto bin = box.dir / "bin";
  fs::create_directories(bin);
  fs::create_symlink(fs::canonical(std::getenv("COMPILE_CACHE")), bin / "gcc");
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  ::setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
  const auto src = (box.dir / "q.c").string();
  std::ofstream(src) << "int q(void) { return 4; }\n";
  const auto o1 = (box.dir / "q1.o").string(), o2 = (box.dir / "q2.o").string();
  auto first = run_process({(bin / "gcc").string(), "-c", src, "-o", o1});
  auto second = run_process({(bin / "gcc").string(), "-c", src, "-o", o2});
  ::setenv("PATH", old_path.c_str(), 1);
  REQUIRE(first.exit_code == 0);
  REQUIRE(second.exit_code == 0);
  CHECK(read_file(o1) == read_file(o2));
  const auto stats = box.stats();
  CHECK(stats.find("misses           1\n") != std::string::npos);
  CHECK(stats.find("hits             1\n") != std::string::npos);
}
