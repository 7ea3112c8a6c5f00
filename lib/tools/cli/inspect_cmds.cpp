// larder stats, verify and gc: whole-cache views and maintenance.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "tools/cli/common.hpp"

namespace larder::cli {

namespace {

// A key as a person can read it: printable bytes as they are, anything else as hex.
std::string show_key(const std::string& key) {
  const bool printable =
      std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
  if (printable) return key.size() > 48 ? key.substr(0, 48) + "..." : key;
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "hex:";
  for (std::size_t i = 0; i < key.size() && i < 24; ++i) {
    const auto b = static_cast<unsigned char>(key[i]);
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return key.size() > 24 ? out + "..." : out;
}

asio::awaitable<int> stats(asio::io_context& io, std::string dir) {
  auto opened = co_await open_cache(io, std::move(dir), access::inspect);
  if (!opened) co_return exit_code_for(opened.error());
  auto& store = *opened->store;
  const auto list = store.entries();
  const auto m = store.disk_metrics();
  std::uint64_t total = 0;
  const disk_entry_info* largest = nullptr;
  // Entries are files whose modification time is their last write; get does not touch it.
  std::int64_t oldest = INT64_MAX, newest = INT64_MIN;
  for (const auto& e : list) {
    total += e.size;
    if (!largest || e.size > largest->size) largest = &e;
    // A named path, not a temporary inside the co_await (GCC 12 destroys those twice).
    std::string path = store.path_for(e.key);
    auto st =
        co_await opened->engine->statx(AT_FDCWD, std::move(path), AT_SYMLINK_NOFOLLOW, STATX_MTIME);
    if (!st) continue;  // removed meanwhile: the age range is approximate anyway
    oldest = std::min<std::int64_t>(oldest, st->stx_mtime.tv_sec);
    newest = std::max<std::int64_t>(newest, st->stx_mtime.tv_sec);
  }
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::printf("directory   %s\n", store.root().c_str());
  std::printf("entries     %zu\n", list.size());
  std::printf("size        %s (%llu bytes in entry files)\n", format_size(total).c_str(),
              static_cast<unsigned long long>(total));
  if (largest)
    std::printf("largest     %s  %s\n", format_size(largest->size).c_str(),
                show_key(largest->key).c_str());
  if (oldest <= newest)
    std::printf("written     oldest %s ago, newest %s ago\n", format_age(now - oldest).c_str(),
                format_age(now - newest).c_str());
  if (m.corrupt_entries > 0)
    std::printf("invalid     %llu files not indexed (run `larder verify --repair`)\n",
                static_cast<unsigned long long>(m.corrupt_entries));
  if (m.io_errors > 0)
    std::printf("io errors   %llu while reading the directory\n",
                static_cast<unsigned long long>(m.io_errors));
  // A fresh process has installed nothing, so durability has nothing pending to report.
  std::printf("io backend  %.*s\n", static_cast<int>(m.backend.size()), m.backend.data());
  co_return m.io_errors > 0 ? exit_io_error : exit_ok;
}

asio::awaitable<int> verify(asio::io_context& io, std::string dir, bool repair) {
  const access mode = repair ? access::modify : access::inspect;
  auto opened = co_await open_cache(io, std::move(dir), mode);
  if (!opened) co_return exit_code_for(opened.error());
  auto& store = *opened->store;
  // Files that failed open's header and length checks never reach the index.
  const auto at_open = store.disk_metrics().corrupt_entries;
  const auto report = co_await store.verify(repair);
  std::printf("checked     %llu entries\n", static_cast<unsigned long long>(report.checked));
  std::printf("ok          %llu\n", static_cast<unsigned long long>(report.ok));
  std::printf("corrupt     %llu%s\n", static_cast<unsigned long long>(report.corrupt),
              report.corrupt == 0 ? ""
              : repair            ? " (removed)"
                                  : " (left in place)");
  std::printf("invalid     %llu files with a bad header or length%s\n",
              static_cast<unsigned long long>(at_open),
              at_open == 0 ? ""
              : repair     ? " (removed)"
                           : " (left in place)");
  if (repair) co_await save_index(*opened, "verify --repair");
  if (report.unreadable > 0) {
    std::printf("unreadable  %llu (%s)\n", static_cast<unsigned long long>(report.unreadable),
                report.first_error.message().c_str());
    co_return exit_io_error;
  }
  if (!repair && (report.corrupt > 0 || at_open > 0)) {
    std::fprintf(stderr, "larder verify: corruption found; run with --repair to remove it\n");
    co_return exit_miss;
  }
  co_return exit_ok;
}

asio::awaitable<int> gc(asio::io_context& io, std::string dir, std::uint64_t budget) {
  // Open enforces the budget itself, evicting the entries written longest ago first.
  auto opened = co_await open_cache(io, std::move(dir), access::modify, budget);
  if (!opened) co_return exit_code_for(opened.error());
  co_await save_index(*opened, "gc");
  const auto m = opened->store->disk_metrics();
  std::printf("evicted     %llu entries, %s\n", static_cast<unsigned long long>(m.store.evictions),
              format_size(m.store.evicted_bytes).c_str());
  std::printf("remaining   %llu entries, %s (budget %s)\n",
              static_cast<unsigned long long>(m.store.entries), format_size(m.store.bytes).c_str(),
              format_size(budget).c_str());
  co_return m.io_errors > 0 ? exit_io_error : exit_ok;
}

}  // namespace

void add_inspect_commands(CLI::App& app, int& code) {
  auto dir = std::make_shared<std::string>();
  auto* s = app.add_subcommand("stats", "Entries, size, largest entry, age range, io backend");
  s->add_option("DIR", *dir, "cache directory")->required();
  s->callback(
      [dir, &code] { code = run([dir](asio::io_context& io) { return stats(io, *dir); }); });

  auto repair = std::make_shared<bool>(false);
  auto* v = app.add_subcommand(
      "verify", "Read every entry in full and check its lengths and checksum footer");
  v->add_option("DIR", *dir, "cache directory")->required();
  v->add_flag("--repair", *repair, "remove corrupt entries and invalid files");
  v->callback([dir, repair, &code] {
    code = run([dir, repair](asio::io_context& io) { return verify(io, *dir, *repair); });
  });

  auto size = std::make_shared<std::string>();
  auto* g = app.add_subcommand(
      "gc",
      "Evict the least recently used entries (as the last saved index ordered them, else the "
      "least recently written) until the cache fits in --max-bytes");
  g->add_option("DIR", *dir, "cache directory")->required();
  g->add_option("--max-bytes", *size,
                "budget, e.g. 10GiB, 512M, 1.5G (K/M/G/T binary; KB/MB/GB/TB decimal)")
      ->required();
  g->callback([dir, size, &code] {
    const auto budget = parse_size(*size);
    if (!budget) {
      std::fprintf(stderr, "larder gc: cannot read the size '%s'\n", size->c_str());
      code = exit_usage;
      return;
    }
    code = run([dir, b = *budget](asio::io_context& io) { return gc(io, *dir, b); });
  });
}

}  // namespace larder::cli
