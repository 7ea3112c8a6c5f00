#include "larder_bench/report.hpp"

#include <algorithm>
#include <array>

#include "larder_bench/units.hpp"

namespace larder::bench {
namespace {

std::string pct(double fraction) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", 100.0 * fraction);
  return text;
}

std::string bytes_text(std::uint64_t n) {
  return format_bytes(static_cast<double>(n));
}
std::string ns_text(std::uint64_t ns) {
  return format_ns(static_cast<double>(ns));
}

double ratio(std::uint64_t part, std::uint64_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

}  // namespace

double run_report::tier_share(std::size_t i) const noexcept {
  if (i >= store.tiers.size()) return 0.0;
  return ratio(store.tiers[i].metrics.hits, phase.stats.gets);
}

std::string run_report::io_backend() const {
  return store.disk ? std::string(store.disk->backend) : std::string("none");
}

std::string describe_workload(const bench_config& c, const workload& w) {
  std::string text = c.key_dist.text() + " over " + std::to_string(c.keys) + " keys";
  if (w.key_count() != c.keys) text += " (+" + std::to_string(w.key_count() - c.keys) + " cold)";
  text += ", values " + c.value_size.text() + " (mean " + format_bytes(w.mean_value_size()) +
          ", all keys " + bytes_text(w.total_value_bytes()) + "), " + c.mix.text() + ", " +
          std::to_string(c.threads) + " threads x " + std::to_string(c.inflight) + " in flight";
  if (c.flush_every)
    text += ", flush every " + format_count(static_cast<double>(c.flush_every)) + " ops";
  return text;
}

void print_run(std::FILE* out, const bench_config& c, const run_report& r) {
  const run_stats& s = r.phase.stats;
  std::fprintf(out, "\n== %s\n", r.description.c_str());
  std::fprintf(out, "ran %.2f s%s: %llu ops, %s ops/s", r.phase.seconds,
               r.phase.interrupted ? " (interrupted)" : "", static_cast<unsigned long long>(s.ops),
               format_count(r.ops_per_second()).c_str());
  if (r.warmup_ops)
    std::fprintf(out, " (after %llu warm-up ops)", static_cast<unsigned long long>(r.warmup_ops));
  std::fprintf(out, "\n\n%-11s %10s %9s %9s %9s %9s %9s %9s\n", "op", "count", "mean", "p50", "p90",
               "p99", "p99.9", "max");
  for (std::size_t k = 0; k < op_kind_count; ++k) {
    const latency_histogram& h = s.latency[k];
    if (h.count() == 0) continue;
    std::fprintf(out, "%-11s %10llu %9s %9s %9s %9s %9s %9s\n", op_name(static_cast<op_kind>(k)),
                 static_cast<unsigned long long>(h.count()), format_ns(h.mean()).c_str(),
                 ns_text(h.quantile(0.5)).c_str(), ns_text(h.quantile(0.9)).c_str(),
                 ns_text(h.quantile(0.99)).c_str(), ns_text(h.quantile(0.999)).c_str(),
                 ns_text(h.max()).c_str());
  }

  std::fprintf(out, "\ngets: %llu, hits %s, misses %llu, faults %llu",
               static_cast<unsigned long long>(s.gets), pct(r.hit_ratio()).c_str(),
               static_cast<unsigned long long>(s.misses),
               static_cast<unsigned long long>(s.get_faults));
  if (c.verify)
    std::fprintf(out, ", wrong values %llu", static_cast<unsigned long long>(s.wrong_values));
  std::fprintf(out,
               "\nputs: %llu + %llu fills after misses, %llu refused (too large), %llu failed; "
               "invalidations: %llu removing %llu entries, %llu failed\n",
               static_cast<unsigned long long>(s.puts), static_cast<unsigned long long>(s.fills),
               static_cast<unsigned long long>(s.rejected_puts),
               static_cast<unsigned long long>(s.put_errors),
               static_cast<unsigned long long>(s.invalidates),
               static_cast<unsigned long long>(s.invalidated),
               static_cast<unsigned long long>(s.invalidate_errors));
  std::fprintf(out, "payload: %s put, %s returned by hits\n", bytes_text(s.bytes_put).c_str(),
               bytes_text(s.bytes_hit).c_str());

  std::fprintf(out, "\n%-10s %10s %10s %8s %8s %10s %10s %10s %10s %7s\n", "tier", "lookups",
               "hits", "hit%", "of gets", "puts", "evictions", "entries", "bytes", "faults");
  for (std::size_t i = 0; i < r.store.tiers.size(); ++i) {
    const tier_report& t = r.store.tiers[i];
    const metrics_snapshot& m = t.metrics;
    const std::string evictions = r.counts_evictions ? std::to_string(m.evictions) : "-";
    std::fprintf(out, "%-10s %10llu %10llu %8s %8s %10llu %10s %10llu %10s %7llu\n", t.name.c_str(),
                 static_cast<unsigned long long>(m.lookups),
                 static_cast<unsigned long long>(m.hits), pct(ratio(m.hits, m.lookups)).c_str(),
                 pct(r.tier_share(i)).c_str(), static_cast<unsigned long long>(m.puts),
                 evictions.c_str(), static_cast<unsigned long long>(m.entries),
                 bytes_text(m.bytes).c_str(),
                 static_cast<unsigned long long>(std::max(t.faults, m.errors)));
  }
  if (r.store.disk) {
    const disk_store_metrics& d = *r.store.disk;
    std::fprintf(out,
                 "disk io (%s): read %s, wrote %s, %llu fsyncs, %llu corrupt, %llu io errors\n",
                 std::string(d.backend).c_str(), bytes_text(d.bytes_read).c_str(),
                 bytes_text(d.bytes_written).c_str(), static_cast<unsigned long long>(d.fsyncs),
                 static_cast<unsigned long long>(d.corrupt_entries),
                 static_cast<unsigned long long>(d.io_errors));
  }
  const latency_histogram& f = s.latency[static_cast<std::size_t>(op_kind::flush)];
  std::fprintf(out, "flushes: %llu (%llu failed), %s in total\n",
               static_cast<unsigned long long>(s.flushes),
               static_cast<unsigned long long>(s.flush_errors),
               format_ns(static_cast<double>(f.sum())).c_str());
  if (!s.first_error.empty()) std::fprintf(out, "first fault: %s\n", s.first_error.c_str());
}

void print_comparison(std::FILE* out, const run_report& a, const run_report& b) {
  std::fprintf(out, "\n== %s against %s (ratio = %s / %s)\n", a.backend.c_str(), b.backend.c_str(),
               a.backend.c_str(), b.backend.c_str());
  std::fprintf(out, "%-16s %12s %12s %10s\n", "", a.backend.c_str(), b.backend.c_str(), "ratio");
  const auto row = [&](const char* what, double x, double y, const std::string& xs,
                       const std::string& ys) {
    char r[24] = "-";
    if (y > 0) std::snprintf(r, sizeof r, "%.2fx", x / y);
    std::fprintf(out, "%-16s %12s %12s %10s\n", what, xs.c_str(), ys.c_str(), r);
  };
  row("ops/s", a.ops_per_second(), b.ops_per_second(), format_count(a.ops_per_second()),
      format_count(b.ops_per_second()));
  for (const auto& [name, q] : std::array{std::pair{"get p50", 0.5}, std::pair{"get p99", 0.99},
                                          std::pair{"get p99.9", 0.999}}) {
    const auto x = a.latency_ns(op_kind::get, q), y = b.latency_ns(op_kind::get, q);
    row(name, static_cast<double>(x), static_cast<double>(y), ns_text(x), ns_text(y));
  }
  row("hit ratio", a.hit_ratio(), b.hit_ratio(), pct(a.hit_ratio()), pct(b.hit_ratio()));
  std::fprintf(out, "hit ratio difference: %+.1f points\n",
               100.0 * (a.hit_ratio() - b.hit_ratio()));
}

void print_summary(std::FILE* out, const bench_config& c, const run_report& r) {
  const run_stats& s = r.phase.stats;
  std::string tiers;
  if (r.store.tiers.size() > 1) {
    for (std::size_t i = 0; i < r.store.tiers.size(); ++i)
      tiers += (i ? ", " : " (") + r.store.tiers[i].name + " " + pct(r.tier_share(i));
    tiers += ")";
  }
  std::fprintf(out,
               "\n%s: %s ops/s over %.2f s on %u threads x %u in flight; %s of gets hit%s; "
               "get p50 %s, p99 %s, p99.9 %s",
               r.backend.c_str(), format_count(r.ops_per_second()).c_str(), r.phase.seconds,
               c.threads, c.inflight, pct(r.hit_ratio()).c_str(), tiers.c_str(),
               ns_text(r.latency_ns(op_kind::get, 0.5)).c_str(),
               ns_text(r.latency_ns(op_kind::get, 0.99)).c_str(),
               ns_text(r.latency_ns(op_kind::get, 0.999)).c_str());
  if (r.counts_evictions)
    std::fprintf(out, "; %llu evictions", static_cast<unsigned long long>(r.store.stack.evictions));
  if (r.store.disk)
    std::fprintf(out, "; disk wrote %s, read %s", bytes_text(r.store.disk->bytes_written).c_str(),
                 bytes_text(r.store.disk->bytes_read).c_str());
  if (s.flushes) {
    const latency_histogram& f = s.latency[static_cast<std::size_t>(op_kind::flush)];
    std::fprintf(out, "; %llu flushes, p99 %s", static_cast<unsigned long long>(s.flushes),
                 ns_text(f.quantile(0.99)).c_str());
  }
  std::fprintf(out, "; io backend %s.\n", r.io_backend().c_str());
}

}  // namespace larder::bench
