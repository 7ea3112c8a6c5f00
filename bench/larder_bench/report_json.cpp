// The JSON form of the report: every figure of the tables, in base units (ns, bytes, s).
#include <nlohmann/json.hpp>

#include "larder_bench/report.hpp"

namespace larder::bench {
namespace {

using json = nlohmann::ordered_json;

json latency_json(const latency_histogram& h) {
  return {{"count", h.count()},     {"mean", h.mean()},        {"p50", h.quantile(0.5)},
          {"p90", h.quantile(0.9)}, {"p99", h.quantile(0.99)}, {"p99_9", h.quantile(0.999)},
          {"min", h.min()},         {"max", h.max()},          {"total", h.sum()}};
}

json metrics_json(const metrics_snapshot& m) {
  return {
      {"lookups", m.lookups},
      {"hits", m.hits},
      {"misses", m.misses},
      {"hit_ratio", m.lookups ? static_cast<double>(m.hits) / static_cast<double>(m.lookups) : 0.0},
      {"puts", m.puts},
      {"rejected_puts", m.rejected_puts},
      {"evictions", m.evictions},
      {"evicted_bytes", m.evicted_bytes},
      {"flushes", m.flushes},
      {"flush_errors", m.flush_errors},
      {"errors", m.errors},
      {"entries", m.entries},
      {"bytes", m.bytes}};
}

json run_json(const run_report& r) {
  const run_stats& s = r.phase.stats;
  json latency = json::object();
  for (std::size_t k = 0; k < op_kind_count; ++k)
    if (s.latency[k].count())
      latency[op_name(static_cast<op_kind>(k))] = latency_json(s.latency[k]);
  json tiers = json::array();
  for (std::size_t i = 0; i < r.store.tiers.size(); ++i) {
    const tier_report& t = r.store.tiers[i];
    json row = metrics_json(t.metrics);
    row["name"] = t.name;
    row["share_of_gets"] = r.tier_share(i);
    row["faults"] = t.faults;
    tiers.push_back(std::move(row));
  }
  json disk = nullptr;
  if (r.store.disk) {
    const disk_store_metrics& d = *r.store.disk;
    disk = {{"io_backend", std::string(d.backend)}, {"bytes_read", d.bytes_read},
            {"bytes_written", d.bytes_written},     {"fsyncs", d.fsyncs},
            {"corrupt_entries", d.corrupt_entries}, {"io_errors", d.io_errors}};
  }
  const latency_histogram& flush = s.latency[static_cast<std::size_t>(op_kind::flush)];
  return {
      {"backend", r.backend},
      {"description", r.description},
      {"seconds", r.phase.seconds},
      {"interrupted", r.phase.interrupted},
      {"warmup_ops", r.warmup_ops},
      {"ops", s.ops},
      {"ops_per_second", r.ops_per_second()},
      {"gets", s.gets},
      {"hits", s.hits},
      {"misses", s.misses},
      {"hit_ratio", r.hit_ratio()},
      {"puts", s.puts},
      {"fills", s.fills},
      {"rejected_puts", s.rejected_puts},
      {"invalidates", s.invalidates},
      {"invalidated_entries", s.invalidated},
      {"faults",
       {{"get", s.get_faults},
        {"put", s.put_errors},
        {"invalidate", s.invalidate_errors},
        {"flush", s.flush_errors},
        {"wrong_values", s.wrong_values},
        {"first", s.first_error}}},
      {"flushes", {{"count", s.flushes}, {"errors", s.flush_errors}, {"total_ns", flush.sum()}}},
      {"payload_bytes", {{"put", s.bytes_put}, {"hit", s.bytes_hit}}},
      {"latency_ns", std::move(latency)},
      {"evictions", r.counts_evictions ? json(r.store.stack.evictions) : json(nullptr)},
      {"store", metrics_json(r.store.stack)},
      {"tiers", std::move(tiers)},
      {"disk", std::move(disk)},
      {"io_backend", r.io_backend()},
  };
}

}  // namespace

std::string json_report(const bench_config& c, const workload& w, const run_report& primary,
                        const run_report* baseline) {
  json config = {
      {"backend", c.backend},
      {"compare", c.compare},
      {"threads", c.threads},
      {"inflight", c.inflight},
      {"ops", c.ops},
      {"duration_s", c.ops ? 0.0 : c.duration_s},
      {"warmup_ops", c.warmup_ops},
      {"warmup_s", c.warmup_s},
      {"keys", c.keys},
      {"key_space", w.key_count()},
      {"distribution", c.key_dist.text()},
      {"value_size", c.value_size.text()},
      {"value_size_min", c.value_size.min},
      {"value_size_max", c.value_size.max},
      {"mean_value_size", w.mean_value_size()},
      {"mix", {{"get", c.mix.get}, {"put", c.mix.put}, {"invalidate", c.mix.invalidate}}},
      {"capacity", c.capacity},
      {"disk_capacity", c.disk_capacity},
      {"policy", policy_name(c.policy)},
      {"flush_every", c.flush_every},
      {"io", c.io},
      {"seed", c.seed},
      {"verify", c.verify},
  };
  json out = {{"larder_bench", 1}, {"config", std::move(config)}};
  json runs = json::array();
  runs.push_back(run_json(primary));
  if (baseline) runs.push_back(run_json(*baseline));
  out["runs"] = std::move(runs);
  if (baseline) {
    const auto ratio_of = [](double a, double b) -> json {
      if (b > 0) return a / b;
      return nullptr;
    };
    out["comparison"] = {
        {"baseline", baseline->backend},
        {"throughput_ratio", ratio_of(primary.ops_per_second(), baseline->ops_per_second())},
        {"get_p99_ratio", ratio_of(static_cast<double>(primary.latency_ns(op_kind::get, 0.99)),
                                   static_cast<double>(baseline->latency_ns(op_kind::get, 0.99)))},
        {"hit_ratio_difference", primary.hit_ratio() - baseline->hit_ratio()},
    };
  }
  return out.dump(2);
}

}  // namespace larder::bench
