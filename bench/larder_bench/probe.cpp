#include "larder_bench/probe.hpp"

namespace larder::bench {
namespace {

std::uint64_t minus(std::uint64_t a, std::uint64_t b) noexcept {
  return a >= b ? a - b : 0;
}

metrics_snapshot minus(const metrics_snapshot& a, const metrics_snapshot& b) noexcept {
  metrics_snapshot out = a;  // gauges stay a's
  out.lookups = minus(a.lookups, b.lookups);
  out.hits = minus(a.hits, b.hits);
  out.misses = minus(a.misses, b.misses);
  out.puts = minus(a.puts, b.puts);
  out.rejected_puts = minus(a.rejected_puts, b.rejected_puts);
  out.evictions = minus(a.evictions, b.evictions);
  out.evicted_bytes = minus(a.evicted_bytes, b.evicted_bytes);
  out.flushes = minus(a.flushes, b.flushes);
  out.flush_errors = minus(a.flush_errors, b.flush_errors);
  out.errors = minus(a.errors, b.errors);
  return out;
}

disk_store* find_disk(any_store& store) {
  if (auto* disk = store.target<disk_store>()) return disk;
  if (auto* layered = store.target<layered_store>())
    for (std::size_t i = 0; i < layered->tier_count(); ++i)
      if (auto* disk = layered->tier(i).target<disk_store>()) return disk;
  return nullptr;
}

}  // namespace

store_probe probe(any_store& store) {
  store_probe out;
  out.stack = store.metrics();
  if (auto* layered = store.target<layered_store>())
    out.tiers = layered->tiers();
  else
    out.tiers.push_back(tier_report{store.name(), out.stack, 0});
  if (auto* disk = find_disk(store)) out.disk = disk->disk_metrics();
  return out;
}

store_probe delta(const store_probe& after, const store_probe& before) {
  store_probe out = after;
  out.stack = minus(after.stack, before.stack);
  for (std::size_t i = 0; i < out.tiers.size() && i < before.tiers.size(); ++i) {
    out.tiers[i].metrics = minus(after.tiers[i].metrics, before.tiers[i].metrics);
    out.tiers[i].faults = minus(after.tiers[i].faults, before.tiers[i].faults);
  }
  if (out.disk && before.disk) {
    disk_store_metrics& d = *out.disk;
    const disk_store_metrics& b = *before.disk;
    d.store = minus(d.store, b.store);
    d.corrupt_entries = minus(d.corrupt_entries, b.corrupt_entries);
    d.io_errors = minus(d.io_errors, b.io_errors);
    d.bytes_read = minus(d.bytes_read, b.bytes_read);
    d.bytes_written = minus(d.bytes_written, b.bytes_written);
    d.fsyncs = minus(d.fsyncs, b.fsyncs);
    d.temp_files_removed = minus(d.temp_files_removed, b.temp_files_removed);
  }
  return out;
}

}  // namespace larder::bench
