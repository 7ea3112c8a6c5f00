#include "larder_bench/options.hpp"

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>

#include "larder_bench/units.hpp"

namespace larder::bench {
namespace {

std::optional<double> parse_double(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

[[noreturn]] void usage(const std::string& what) {
  throw CLI::ValidationError(what);
}

key_distribution parse_keys(const std::string& text) {
  key_distribution d;
  const std::string_view t(text);
  if (t == "uniform") {
    d.shape = key_distribution::kind::uniform;
  } else if (t == "zipf" || t.starts_with("zipf:")) {
    if (t.size() > 5) {
      const auto alpha = parse_double(t.substr(5));
      if (!alpha || *alpha < 0 || *alpha > 10) usage("--distribution: bad Zipf alpha in " + text);
      d.alpha = *alpha;
    }
  } else if (t == "scan-mix" || t.starts_with("scan-mix:")) {
    d.shape = key_distribution::kind::scan_mix;
    std::string_view rest = t.size() > 9 ? t.substr(9) : std::string_view{};
    if (!rest.empty()) {
      const auto colon = rest.find(':');
      const auto fraction = parse_double(rest.substr(0, colon));
      if (!fraction || *fraction <= 0 || *fraction > 1)
        usage("--distribution: scan share must be in (0, 1] in " + text);
      d.scan_fraction = *fraction;
      if (colon != std::string_view::npos) {
        const auto alpha = parse_double(rest.substr(colon + 1));
        if (!alpha || *alpha < 0 || *alpha > 10) usage("--distribution: bad alpha in " + text);
        d.alpha = *alpha;
      }
    }
  } else {
    usage("--distribution: expected zipf[:ALPHA], uniform or scan-mix[:SHARE[:ALPHA]], got " +
          text);
  }
  return d;
}

// "MIN-MAX" as two sizes.
std::pair<std::uint64_t, std::uint64_t> parse_range(std::string_view text, const std::string& all) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) usage("--value-size: expected MIN-MAX in " + all);
  const auto lo = parse_size(text.substr(0, dash));
  const auto hi = parse_size(text.substr(dash + 1));
  if (!lo || !hi || *lo == 0 || *lo > *hi) usage("--value-size: bad range in " + all);
  return {*lo, *hi};
}

size_distribution parse_value_size(const std::string& text) {
  size_distribution d;
  const std::string_view t(text);
  if (t.starts_with("uniform:")) {
    d.shape = size_distribution::kind::uniform;
    std::tie(d.min, d.max) = parse_range(t.substr(8), text);
  } else if (t == "pareto" || t.starts_with("pareto:")) {
    d.shape = size_distribution::kind::pareto;
    d.min = 1024;
    d.max = 256 * 1024;
    if (t.size() > 7) {
      std::string_view rest = t.substr(7);
      const auto colon = rest.find(':');
      std::tie(d.min, d.max) = parse_range(rest.substr(0, colon), text);
      if (colon != std::string_view::npos) {
        const auto shape = parse_double(rest.substr(colon + 1));
        if (!shape || *shape <= 0 || *shape > 10)
          usage("--value-size: bad Pareto shape in " + text);
        d.pareto_shape = *shape;
      }
    }
  } else {
    const auto size = parse_size(t.starts_with("fixed:") ? t.substr(6) : t);
    if (!size || *size == 0)
      usage("--value-size: expected SIZE, uniform:MIN-MAX or pareto, got " + text);
    d.shape = size_distribution::kind::fixed;
    d.min = d.max = *size;
  }
  if (d.max > (64ull << 20)) usage("--value-size: values above 64 MiB (the disk tier's limit)");
  return d;
}

op_mix parse_mix(const std::string& text) {
  op_mix m{0, 0, 0};
  std::string_view rest(text);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view part = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    const auto eq = part.find('=');
    if (eq == std::string_view::npos)
      usage("--mix: expected get=N,put=N,invalidate=N, got " + text);
    const auto share = parse_count(part.substr(eq + 1));
    if (!share || *share > 100) usage("--mix: bad percentage in " + text);
    const auto name = part.substr(0, eq);
    if (name == "get")
      m.get = static_cast<unsigned>(*share);
    else if (name == "put")
      m.put = static_cast<unsigned>(*share);
    else if (name == "invalidate" || name == "inv")
      m.invalidate = static_cast<unsigned>(*share);
    else
      usage("--mix: unknown operation '" + std::string(name) + "' (get, put, invalidate)");
  }
  return m;
}

}  // namespace

std::string key_distribution::text() const {
  char out[64];
  switch (shape) {
    case kind::uniform:
      return "uniform";
    case kind::zipf:
      std::snprintf(out, sizeof out, "zipf:%g", alpha);
      return out;
    case kind::scan_mix:
      std::snprintf(out, sizeof out, "scan-mix:%g:%g", scan_fraction, alpha);
      return out;
  }
  return "?";
}

std::string size_distribution::text() const {
  switch (shape) {
    case kind::fixed:
      return format_bytes(static_cast<double>(min));
    case kind::uniform:
      return "uniform:" + format_bytes(static_cast<double>(min)) + "-" +
             format_bytes(static_cast<double>(max));
    case kind::pareto: {
      char shape_text[16];
      std::snprintf(shape_text, sizeof shape_text, ":%g", pareto_shape);
      return "pareto:" + format_bytes(static_cast<double>(min)) + "-" +
             format_bytes(static_cast<double>(max)) + shape_text;
    }
  }
  return "?";
}

std::string op_mix::text() const {
  return "get=" + std::to_string(get) + ",put=" + std::to_string(put) +
         ",invalidate=" + std::to_string(invalidate);
}

const char* policy_name(eviction_policy p) noexcept {
  return p == eviction_policy::lru ? "lru" : "s3_fifo";
}

parse_outcome parse_command_line(int argc, char** argv) {
  CLI::App app{
      "larder-bench: drives a larder store with a cache workload and reports throughput, hit "
      "ratios per tier, latency percentiles, evictions and I/O.\nWith no options: the embedded "
      "default (memory over io_uring disk, in a temporary directory): a 5 s warm-up, then 20 s "
      "measured."};
  bench_config c;
  std::string ops, warmup, keys_text = "zipf:0.9", value_text = "uniform:1KiB-16KiB";
  std::string mix_text = c.mix.text(), capacity, disk_capacity, policy = "s3_fifo", flush_every;
  std::optional<unsigned> get_pct, put_pct, invalidate_pct;
  bool quiet = false, no_verify = false;

  app.add_option("--backend,-b", c.backend,
                 "store to drive: memory, disk, layered, null, redis, mutex-lru, seed")
      ->capture_default_str();
  app.add_option("--compare", c.compare,
                 "run this backend afterwards on the same trace and print ratios");
  app.add_option("--dir", c.dir,
                 "cache root for disk tiers (kept); default: a temporary directory, removed");
  auto* ops_opt = app.add_option("--ops,-n", ops, "operations over all threads (e.g. 200k)");
  auto* duration_opt = app.add_option("--duration,-d", c.duration_s,
                                      "seconds to measure (default: 20, after a 5 s warm-up)");
  ops_opt->excludes(duration_opt);
  app.add_option("--warmup", warmup, "untimed warm-up first: N operations, or seconds as '5s'");
  app.add_option("--threads,-t", c.threads, "threads, each running its own io_context")
      ->capture_default_str()
      ->check(CLI::Range(1u, 256u));
  app.add_option("--inflight,-i", c.inflight, "coroutines per thread")
      ->capture_default_str()
      ->check(CLI::Range(1u, 4096u));
  app.add_option("--distribution,--keys-dist", keys_text,
                 "zipf[:ALPHA], uniform, scan-mix[:SHARE[:ALPHA]]")
      ->capture_default_str();
  app.add_option("--keys,-k", c.keys, "distinct keys (scan-mix adds 4x as many cold ones)")
      ->capture_default_str()
      ->check(CLI::Range(1u, 100'000'000u));
  app.add_option("--value-size,-v", value_text, "SIZE, uniform:MIN-MAX, pareto[:MIN-MAX[:SHAPE]]")
      ->capture_default_str();
  app.add_option("--mix", mix_text, "operation shares in percent")->capture_default_str();
  app.add_option("--get", get_pct, "get percentage (overrides --mix; get takes the remainder)");
  app.add_option("--put", put_pct, "put percentage");
  app.add_option("--invalidate", invalidate_pct, "invalidate percentage");
  app.add_option("--capacity", capacity, "memory tier budget (default 16MiB)");
  app.add_option("--disk-capacity", disk_capacity, "disk tier budget (default 256MiB)");
  app.add_option("--policy", policy, "memory eviction policy: s3_fifo or lru")
      ->capture_default_str();
  app.add_option("--io", c.io, "io engine backend: auto, io_uring, thread_pool")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "io_uring", "thread_pool"}));
  app.add_option("--redis", c.redis,
                 "Redis server of the redis backend: HOST:PORT, or a URL "
                 "(redis://[user[:password]@]host[:port][/db], rediss://..., unix:///path)")
      ->capture_default_str();
  app.add_flag("--redis-cluster", c.redis_cluster,
               "--redis names one node of a Redis Cluster (slot map, redirects followed)");
  app.add_option("--redis-ttl", c.redis_ttl_s,
                 "time to live of the redis backend's entries in seconds, 0 for none")
      ->capture_default_str();
  app.add_option("--flush-every", flush_every,
                 "flush every N operations over all threads, 0: never (default 25k)");
  app.add_option("--seed", c.seed, "seed of the traces and value sizes");
  app.add_flag("--json", c.json, "print a JSON report on stdout instead of the tables");
  app.add_flag("--quiet,-q", quiet, "no progress display");
  app.add_flag("--no-verify", no_verify, "do not check the bytes of every hit");

  try {
    app.parse(argc, argv);
    c.progress = !quiet;
    c.verify = !no_verify;
    if (!ops.empty()) {
      const auto n = parse_count(ops);
      if (!n || *n == 0) usage("--ops: expected a positive count, got " + ops);
      c.ops = *n;
    }
    if (!(c.duration_s > 0) || c.duration_s > 86400) usage("--duration: expected 0 < S <= 86400");
    // The default warm-up belongs to the default run only: a run sized by hand gets none
    // unless it asks.
    if (!ops.empty() || duration_opt->count() > 0 || !warmup.empty()) c.warmup_s = 0;
    if (!warmup.empty()) {
      if (warmup.back() == 's') {
        const auto s = parse_double(std::string_view(warmup).substr(0, warmup.size() - 1));
        if (!s || *s < 0 || *s > 3600) usage("--warmup: bad seconds " + warmup);
        c.warmup_s = *s;
      } else {
        const auto n = parse_count(warmup);
        if (!n) usage("--warmup: expected N operations or seconds like 5s, got " + warmup);
        c.warmup_ops = *n;
      }
    }
    c.key_dist = parse_keys(keys_text);
    c.value_size = parse_value_size(value_text);
    c.mix = parse_mix(mix_text);
    if (get_pct || put_pct || invalidate_pct) {
      c.mix.put = put_pct.value_or(0);
      c.mix.invalidate = invalidate_pct.value_or(0);
      c.mix.get = get_pct ? *get_pct : 100 - std::min(100u, c.mix.put + c.mix.invalidate);
    }
    if (c.mix.get + c.mix.put + c.mix.invalidate != 100)
      usage("the operation mix must add up to 100, got " + c.mix.text());
    for (auto [text, out] :
         {std::pair{&capacity, &c.capacity}, {&disk_capacity, &c.disk_capacity}}) {
      if (text->empty()) continue;
      const auto size = parse_size(*text);
      if (!size) usage("expected a size like 64MiB, got " + *text);
      *out = *size;
    }
    if (!flush_every.empty()) {
      const auto n = parse_count(flush_every);
      if (!n) usage("--flush-every: expected a count, got " + flush_every);
      c.flush_every = *n;
    }
    if (policy == "lru")
      c.policy = eviction_policy::lru;
    else if (policy == "s3_fifo" || policy == "s3-fifo")
      c.policy = eviction_policy::s3_fifo;
    else
      usage("--policy: expected s3_fifo or lru, got " + policy);
  } catch (const CLI::ParseError& e) {
    return {std::nullopt, app.exit(e)};
  }
  return {std::move(c), 0};
}

}  // namespace larder::bench
