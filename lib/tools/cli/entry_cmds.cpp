// larder get, put and invalidate: single keys and prefixes.
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "tools/cli/common.hpp"

namespace larder::cli {

namespace {

struct key_args {
  std::string dir;
  std::string key;
  std::string file;
  bool hex = false;
};

// Whole stream into memory; the store takes one blob per value anyway.
std::optional<std::string> read_all(std::FILE* in) {
  std::string out;
  std::vector<char> chunk(1 << 16);
  for (;;) {
    const std::size_t n = std::fread(chunk.data(), 1, chunk.size(), in);
    out.append(chunk.data(), n);
    if (n < chunk.size()) break;
  }
  if (std::ferror(in)) return std::nullopt;
  return out;
}

asio::awaitable<int> get(asio::io_context& io, key_args args, std::string key) {
  auto opened = co_await open_cache(io, std::move(args.dir), access::inspect);
  if (!opened) co_return exit_code_for(opened.error());
  const auto found = co_await opened->store->get(key);
  if (found.is_miss()) {
    std::fprintf(stderr, "larder get: not in the cache\n");
    co_return exit_miss;
  }
  if (found.is_fault()) {
    report_error("get", found.error());
    co_return exit_code_for(found.error());
  }
  const auto bytes = found.value().bytes();
  const bool to_stdout = args.file.empty() || args.file == "-";
  std::FILE* out = to_stdout ? stdout : std::fopen(args.file.c_str(), "wb");
  if (!out) {
    report_error("get: " + args.file, {errno, std::system_category()});
    co_return exit_io_error;
  }
  const bool written = std::fwrite(bytes.data(), 1, bytes.size(), out) == bytes.size();
  const bool closed = to_stdout ? std::fflush(out) == 0 : std::fclose(out) == 0;
  if (!written || !closed) {
    report_error("get: writing the value", {errno, std::system_category()});
    co_return exit_io_error;
  }
  co_return exit_ok;
}

asio::awaitable<int> put(asio::io_context& io, key_args args, std::string key) {
  const bool from_stdin = args.file == "-";
  std::FILE* in = from_stdin ? stdin : std::fopen(args.file.c_str(), "rb");
  if (!in) {
    report_error("put: " + args.file, {errno, std::system_category()});
    co_return exit_io_error;
  }
  const auto value = read_all(in);
  if (!from_stdin) std::fclose(in);
  if (!value) {
    report_error("put: reading " + args.file, {errno, std::system_category()});
    co_return exit_io_error;
  }
  auto opened = co_await open_cache(io, std::move(args.dir), access::create);
  if (!opened) co_return exit_code_for(opened.error());
  auto bytes = blob::copy_of(*value);
  if (auto ec = co_await opened->store->put(key, std::move(bytes))) {
    report_error("put", ec);
    co_return exit_io_error;
  }
  if (auto ec = co_await opened->store->flush()) {
    report_error("put: flush", ec);
    co_return exit_io_error;
  }
  co_await save_index(*opened, "put");
  std::printf("stored %s\n", format_size(value->size()).c_str());
  co_return exit_ok;
}

asio::awaitable<int> invalidate(asio::io_context& io, key_args args, std::string prefix) {
  auto opened = co_await open_cache(io, std::move(args.dir), access::modify);
  if (!opened) co_return exit_code_for(opened.error());
  const auto removed = co_await opened->store->invalidate_prefix(prefix);
  if (!removed) {
    report_error("invalidate", removed.error());
    co_return exit_io_error;
  }
  // Removals need no fsync to be correct (a resurrected file is a valid old entry), but the
  // flush makes the command's effect on the directory durable like put's.
  if (auto ec = co_await opened->store->flush()) {
    report_error("invalidate: flush", ec);
    co_return exit_io_error;
  }
  co_await save_index(*opened, "invalidate");
  std::printf("removed %llu\n", static_cast<unsigned long long>(*removed));
  co_return exit_ok;
}

using command = asio::awaitable<int> (*)(asio::io_context&, key_args, std::string);

// Decodes the key, then runs `cmd` with it.
int dispatch(command cmd, const key_args& args, const char* name) {
  auto key = decode_key(args.key, args.hex);
  if (!key) {
    std::fprintf(stderr, "larder %s: --hex needs an even number of hex digits\n", name);
    return exit_usage;
  }
  return run([cmd, &args, &key](asio::io_context& io) { return cmd(io, args, *key); });
}

}  // namespace

void add_entry_commands(CLI::App& app, int& code) {
  auto args = std::make_shared<key_args>();
  const char* hex_help = "KEY is given as hex digits (for binary keys such as fingerprints)";

  auto* g = app.add_subcommand("get", "Write the value under KEY to stdout or to -o FILE");
  g->add_option("DIR", args->dir, "cache directory")->required();
  g->add_option("KEY", args->key, "the key")->required();
  g->add_option("-o,--output", args->file, "write the value to FILE instead of stdout");
  g->add_flag("--hex", args->hex, hex_help);
  g->callback([args, &code] { code = dispatch(get, *args, "get"); });

  auto* p = app.add_subcommand("put", "Store FILE (or stdin for -) under KEY, then flush");
  p->add_option("DIR", args->dir, "cache directory (created when missing)")->required();
  p->add_option("KEY", args->key, "the key")->required();
  p->add_option("FILE", args->file, "the value's file, or - for stdin")->required();
  p->add_flag("--hex", args->hex, hex_help);
  p->callback([args, &code] { code = dispatch(put, *args, "put"); });

  auto* i = app.add_subcommand("invalidate", "Remove every entry whose key starts with PREFIX");
  i->add_option("DIR", args->dir, "cache directory")->required();
  i->add_option("PREFIX", args->key, "the key prefix (empty removes everything)")->required();
  i->add_flag("--hex", args->hex, "PREFIX is given as hex digits");
  i->callback([args, &code] { code = dispatch(invalidate, *args, "invalidate"); });
}

}  // namespace larder::cli
