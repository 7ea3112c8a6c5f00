// Runs fio (the ceiling the disk benchmark compares against) and reads the two figures it
// needs from fio's JSON report: bandwidth and the 99th percentile completion latency.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

namespace larder::bench {

struct fio_result {
  double bytes_per_second = 0;
  double p99_ns = 0;
};

namespace detail {

// The number that follows `"name" :` after position `from` in fio's JSON, or -1.
inline double json_number_after(const std::string& json, const std::string& name,
                                std::size_t from = 0) {
  const auto at = json.find('"' + name + '"', from);
  if (at == std::string::npos) return -1;
  const auto colon = json.find(':', at);
  if (colon == std::string::npos) return -1;
  return std::strtod(json.c_str() + colon + 1, nullptr);
}

}  // namespace detail

/// Runs `fio <args> --output-format=json` and extracts the figures of the `rw` direction
/// ("read" or "write"). Empty when fio is missing or fails.
inline std::optional<fio_result> run_fio(const std::string& fio, const std::string& args,
                                         const std::string& rw) {
  const auto command = fio + " " + args + " --output-format=json 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string json;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
    json.append(buffer, n);
  if (::pclose(pipe) != 0) return std::nullopt;
  // The direction's result block, `"write" : {`, not the job option `"rw" : "write"`.
  const auto section = json.find('"' + rw + "\" : {");
  if (section == std::string::npos) return std::nullopt;
  fio_result r;
  r.bytes_per_second = detail::json_number_after(json, "bw_bytes", section);
  const auto clat = json.find("\"clat_ns\"", section);
  if (clat != std::string::npos) r.p99_ns = detail::json_number_after(json, "99.000000", clat);
  if (r.bytes_per_second <= 0) return std::nullopt;
  return r;
}

}  // namespace larder::bench
