// The `larder` command line against real cache directories, run as a child process.
// LARDER_CLI names the binary (set by test/meson.build).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/spawn.hpp"

namespace fs = std::filesystem;
using larder::test::run_process;

namespace {

struct temp_dir {
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "larder-cli-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

larder::test::process_result larder_cli(std::vector<std::string> args,
                                        const std::string& stdin_path = "/dev/null") {
  const char* exe = std::getenv("LARDER_CLI");
  REQUIRE(exe != nullptr);
  args.insert(args.begin(), exe);
  return run_process(args, stdin_path);
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> entry_files(const fs::path& root) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().extension() == ".bin") out.push_back(e.path());
  return out;
}

std::uint64_t total_size(const fs::path& root) {
  std::uint64_t sum = 0;
  for (const auto& p : entry_files(root))
    sum += fs::file_size(p);
  return sum;
}

}  // namespace

TEST_CASE("larder put and get round-trip values through files and stdin") {
  temp_dir tmp;
  const auto cache = (tmp.path / "cache").string();
  const std::string value(100000, 'v');
  write_file(tmp.path / "value", value);

  auto put = larder_cli({"put", cache, "some/key", (tmp.path / "value").string()});
  REQUIRE(put.exit_code == 0);
  auto got = larder_cli({"get", cache, "some/key"});
  REQUIRE(got.exit_code == 0);
  CHECK(got.out == value);

  auto to_file = larder_cli({"get", cache, "some/key", "-o", (tmp.path / "out").string()});
  REQUIRE(to_file.exit_code == 0);
  CHECK(read_file(tmp.path / "out") == value);

  write_file(tmp.path / "stdin", "from stdin");
  REQUIRE(larder_cli({"put", cache, "k2", "-"}, (tmp.path / "stdin").string()).exit_code == 0);
  CHECK(larder_cli({"get", cache, "k2"}).out == "from stdin");
  // Binary keys through --hex: "k2" is 6b32.
  CHECK(larder_cli({"get", "--hex", cache, "6b32"}).out == "from stdin");

  auto miss = larder_cli({"get", cache, "absent"});
  CHECK(miss.exit_code == 1);
  CHECK(miss.out.empty());

  auto stats = larder_cli({"stats", cache});
  REQUIRE(stats.exit_code == 0);
  CHECK(stats.out.find("entries     2\n") != std::string::npos);
  CHECK(stats.out.find("io backend") != std::string::npos);
}

TEST_CASE("larder refuses missing and foreign directories without creating them") {
  temp_dir tmp;
  const auto missing = (tmp.path / "missing").string();
  CHECK(larder_cli({"stats", missing}).exit_code == 3);
  CHECK(larder_cli({"verify", missing}).exit_code == 3);
  CHECK(larder_cli({"get", missing, "k"}).exit_code == 3);
  CHECK(larder_cli({"gc", missing, "--max-bytes", "1M"}).exit_code == 3);
  CHECK(larder_cli({"invalidate", missing, "k"}).exit_code == 3);
  CHECK_FALSE(fs::exists(missing));

  write_file(tmp.path / "notes.txt", "not a cache");
  auto foreign = larder_cli({"stats", tmp.path.string()});
  CHECK(foreign.exit_code == 3);
  CHECK(foreign.err.find("not a larder cache") != std::string::npos);
  CHECK(larder_cli({"put", tmp.path.string(), "k", (tmp.path / "notes.txt").string()}).exit_code ==
        3);
  CHECK(fs::exists(tmp.path / "notes.txt"));

  CHECK(larder_cli({"gc", tmp.path.string()}).exit_code == 2);  // --max-bytes is required
  CHECK(larder_cli({"gc", tmp.path.string(), "--max-bytes", "12 parsecs"}).exit_code == 2);
  CHECK(larder_cli({"frobnicate"}).exit_code == 2);
}

TEST_CASE("larder verify finds a flipped bit and --repair removes the entry") {
  temp_dir tmp;
  const auto cache = (tmp.path / "cache").string();
  write_file(tmp.path / "value", std::string(4096, 'x'));
  for (int i = 0; i < 5; ++i)
    REQUIRE(larder_cli({"put", cache, "key" + std::to_string(i), (tmp.path / "value").string()})
                .exit_code == 0);
  REQUIRE(larder_cli({"verify", cache}).exit_code == 0);

  auto files = entry_files(cache);
  REQUIRE(files.size() == 5);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(1000);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(1000);
    f.write(&c, 1);
  }
  auto found = larder_cli({"verify", cache});
  CHECK(found.exit_code == 1);
  CHECK(found.out.find("corrupt     1") != std::string::npos);
  CHECK(entry_files(cache).size() == 5);  // without --repair nothing is removed

  auto repaired = larder_cli({"verify", "--repair", cache});
  CHECK(repaired.exit_code == 0);
  CHECK(entry_files(cache).size() == 4);
  auto clean = larder_cli({"verify", cache});
  CHECK(clean.exit_code == 0);
  CHECK(clean.out.find("ok          4") != std::string::npos);
}

TEST_CASE("larder gc evicts to the budget and invalidate counts what it removed") {
  temp_dir tmp;
  const auto cache = (tmp.path / "cache").string();
  write_file(tmp.path / "value", std::string(10000, 'g'));
  for (int i = 0; i < 12; ++i)
    REQUIRE(larder_cli({"put", cache, "gc/" + std::to_string(i), (tmp.path / "value").string()})
                .exit_code == 0);
  const auto before = total_size(cache);
  REQUIRE(before > 100000);

  auto gc = larder_cli({"gc", cache, "--max-bytes", "50K"});
  REQUIRE(gc.exit_code == 0);
  const auto after = total_size(cache);
  CHECK(after <= 50 * 1024);
  CHECK(after > 0);
  CHECK(entry_files(cache).size() == 5);  // 10,064-byte files in 51,200 bytes
  // The most recently written entry survives; the first one written went.
  CHECK(larder_cli({"get", cache, "gc/11"}).exit_code == 0);
  CHECK(larder_cli({"get", cache, "gc/0"}).exit_code == 1);

  auto inv = larder_cli({"invalidate", cache, "gc/1"});  // gc/1, gc/10, gc/11 minus evicted
  REQUIRE(inv.exit_code == 0);
  CHECK(inv.out == "removed 2\n");
  CHECK(entry_files(cache).size() == 3);
}
