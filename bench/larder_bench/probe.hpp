// What a store reports about itself, sampled before and after a run so the report shows
// only what the run did.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "larder/any_store.hpp"
#include "larder/disk_store.hpp"
#include "larder/layered_store.hpp"

namespace larder::bench {

struct store_probe {
  metrics_snapshot stack;                  ///< the driven store's own counters
  std::vector<tier_report> tiers;          ///< its tiers, fastest first; one row for a plain store
  std::optional<disk_store_metrics> disk;  ///< the disk tier, when there is one
};

/// Samples `store` now. Safe while other threads use it: every part is a snapshot.
store_probe probe(any_store& store);

/// `after` with every counter made relative to `before`; gauges (entries, bytes) and the
/// io backend are `after`'s.
store_probe delta(const store_probe& after, const store_probe& before);

}  // namespace larder::bench
