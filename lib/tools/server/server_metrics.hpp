// server_metrics: what larder-server counts, and its Prometheus text. The server runs on one
// io_context thread, so these are plain integers touched only from that thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "larder/layered_store.hpp"
#include "tools/server/router.hpp"

namespace larder::server {

struct server_metrics {
  /// Upper bounds (seconds) of the request latency histogram.
  static constexpr std::array<double, 12> latency_bounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5};

  std::map<std::pair<std::string, int>, std::uint64_t> requests;  ///< (method, status)
  std::array<std::uint64_t, 4> hits{};    ///< by protocol (index: protocol enum)
  std::array<std::uint64_t, 4> misses{};  ///< by protocol
  std::uint64_t bytes_in = 0;             ///< request bytes received (heads and bodies)
  std::uint64_t bytes_out = 0;            ///< response body bytes sent
  std::uint64_t cas_mismatches = 0;       ///< CAS uploads refused: SHA-256 differs from name
  std::uint64_t aborted_uploads = 0;      ///< connections that ended inside a request
  std::uint64_t malformed = 0;            ///< requests refused because their framing was bad
  std::uint64_t timeouts = 0;             ///< connections closed by a read/idle/write timeout
  std::uint64_t uploads_over_budget = 0;  ///< 503s: --max-upload-memory was reached
  std::uint64_t store_faults = 0;         ///< store operations that failed (500, 507)
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_open = 0;
  std::uint64_t flushes = 0;
  std::uint64_t flush_errors = 0;
  std::array<std::uint64_t, latency_bounds.size()> latency_buckets{};  ///< not cumulative
  std::uint64_t latency_count = 0;
  double latency_sum = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  void record(const std::string& method, int status, double seconds);
  /// The Prometheus text of these figures and of the store's own report.
  std::string prometheus_text(const layered_store& store) const;
  /// A short JSON object for /status.
  std::string status_json(const layered_store& store) const;
};

std::string_view protocol_name(protocol p);

}  // namespace larder::server
