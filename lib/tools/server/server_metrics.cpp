#include "tools/server/server_metrics.hpp"

#include "core/prometheus.hpp"

namespace larder::server {

std::string_view protocol_name(protocol p) {
  switch (p) {
    case protocol::ccache:
      return "ccache";
    case protocol::bazel_ac:
      return "bazel_ac";
    case protocol::bazel_cas:
      return "bazel_cas";
    case protocol::none:
      break;
  }
  return "none";
}

void server_metrics::record(const std::string& method, int status, double seconds) {
  ++requests[{method, status}];
  for (std::size_t i = 0; i < latency_bounds.size(); ++i) {
    if (seconds <= latency_bounds[i]) {
      ++latency_buckets[i];
      break;
    }
  }
  ++latency_count;
  latency_sum += seconds;
}

std::string server_metrics::prometheus_text(const layered_store& store) const {
  using prometheus::writer;
  writer w;
  w.family("larder_server_requests_total", writer::type::counter,
           "HTTP requests answered, by method and status");
  for (const auto& [key, count] : requests) {
    std::string status = std::to_string(key.second);
    w.sample("larder_server_requests_total", {{"method", key.first}, {"status", status}}, count);
  }
  const protocol protocols[] = {protocol::ccache, protocol::bazel_ac, protocol::bazel_cas};
  w.family("larder_server_hits_total", writer::type::counter,
           "GET and HEAD requests answered from the store, by protocol");
  for (protocol p : protocols) {
    w.sample("larder_server_hits_total", {{"protocol", protocol_name(p)}},
             hits[static_cast<std::size_t>(p)]);
  }
  w.family("larder_server_misses_total", writer::type::counter,
           "GET and HEAD requests for entries the store does not hold, by protocol");
  for (protocol p : protocols) {
    w.sample("larder_server_misses_total", {{"protocol", protocol_name(p)}},
             misses[static_cast<std::size_t>(p)]);
  }
  auto counter = [&](std::string_view name, std::string_view help, std::uint64_t v) {
    w.family(name, writer::type::counter, help);
    w.sample(name, v);
  };
  counter("larder_server_received_bytes_total", "Request bytes received (heads and bodies)",
          bytes_in);
  counter("larder_server_sent_bytes_total", "Response body bytes sent", bytes_out);
  counter("larder_server_cas_mismatches_total",
          "CAS uploads refused because their SHA-256 differs from their name", cas_mismatches);
  counter("larder_server_aborted_requests_total",
          "Connections that ended inside a request (nothing of it was stored)", aborted_uploads);
  counter("larder_server_malformed_requests_total",
          "Requests refused because their framing or head was malformed or too large", malformed);
  counter("larder_server_timeouts_total", "Connections closed by a read, idle or write timeout",
          timeouts);
  counter("larder_server_uploads_over_budget_total",
          "Uploads refused with 503 because uploads in flight held --max-upload-memory",
          uploads_over_budget);
  counter("larder_server_store_faults_total", "Store operations that failed", store_faults);
  counter("larder_server_connections_total", "Connections accepted", connections_accepted);
  counter("larder_server_flushes_total", "Store flushes run by the durability policy", flushes);
  counter("larder_server_flush_errors_total", "Store flushes that failed", flush_errors);
  w.family("larder_server_connections_open", writer::type::gauge, "Connections open now");
  w.sample("larder_server_connections_open", connections_open);

  std::array<std::uint64_t, latency_bounds.size()> cumulative{};
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < latency_bounds.size(); ++i) {
    running += latency_buckets[i];
    cumulative[i] = running;
  }
  w.histogram("larder_server_request_duration_seconds",
              "Time from a request's complete arrival to its response being written",
              latency_bounds, cumulative, latency_count, latency_sum);

  // The store's own report: the stack's figures and each tier's.
  auto tier_rows = store.tiers();
  metrics_snapshot stack = store.metrics();
  struct field {
    std::string_view name;
    writer::type kind;
    std::string_view help;
    std::uint64_t metrics_snapshot::*member;
  };
  static constexpr field fields[] = {
      {"larder_store_lookups_total", writer::type::counter, "get calls",
       &metrics_snapshot::lookups},
      {"larder_store_hits_total", writer::type::counter, "get calls that hit",
       &metrics_snapshot::hits},
      {"larder_store_misses_total", writer::type::counter, "get calls that missed",
       &metrics_snapshot::misses},
      {"larder_store_puts_total", writer::type::counter, "put calls that stored a value",
       &metrics_snapshot::puts},
      {"larder_store_rejected_puts_total", writer::type::counter, "put calls refused",
       &metrics_snapshot::rejected_puts},
      {"larder_store_evictions_total", writer::type::counter, "entries evicted",
       &metrics_snapshot::evictions},
      {"larder_store_evicted_bytes_total", writer::type::counter, "bytes evicted",
       &metrics_snapshot::evicted_bytes},
      {"larder_store_errors_total", writer::type::counter, "faults of any operation",
       &metrics_snapshot::errors},
      {"larder_store_entries", writer::type::gauge, "entries held", &metrics_snapshot::entries},
      {"larder_store_bytes", writer::type::gauge, "bytes held", &metrics_snapshot::bytes},
  };
  for (const auto& f : fields) {
    w.family(f.name, f.kind, f.help);
    w.sample(f.name, {{"tier", "all"}}, stack.*f.member);
    for (const auto& t : tier_rows)
      w.sample(f.name, {{"tier", t.name}}, t.metrics.*f.member);
  }
  w.family("larder_store_tier_faults_total", writer::type::counter,
           "faults each tier returned to the layered store");
  for (const auto& t : tier_rows)
    w.sample("larder_store_tier_faults_total", {{"tier", t.name}}, t.faults);
  return std::move(w).take();
}

std::string server_metrics::status_json(const layered_store& store) const {
  auto m = store.metrics();
  auto uptime =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
          .count();
  std::uint64_t total = 0;
  for (const auto& [key, count] : requests)
    total += count;
  return "{\"status\":\"ok\",\"uptime_seconds\":" + std::to_string(uptime) +
         ",\"requests\":" + std::to_string(total) +
         ",\"connections_open\":" + std::to_string(connections_open) +
         ",\"entries\":" + std::to_string(m.entries) + ",\"bytes\":" + std::to_string(m.bytes) +
         ",\"hits\":" + std::to_string(m.hits) + ",\"misses\":" + std::to_string(m.misses) +
         ",\"evictions\":" + std::to_string(m.evictions) + "}\n";
}

}  // namespace larder::server
