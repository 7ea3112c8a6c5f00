#include "stores/disk/dir_sync.hpp"

#include <algorithm>
#include <utility>

namespace larder::detail::disk {

std::bitset<256> dir_sync::plan(std::span<const dir_probe, 256> probes,
                                const std::bitset<256>& known) const {
  std::bitset<256> out;
  for (unsigned d = 0; d < 256; ++d) {
    const auto& p = probes[d];
    switch (p.state) {
      case dir_probe::missing:
        if (known[d]) out.set(d);
        break;
      case dir_probe::unreadable:
        out.set(d);  // listing it tells what is wrong, and fails the refresh
        break;
      case dir_probe::directory:
        if (!trusted_set_[d] || trusted_[d] != p.mtime_ns) out.set(d);
        break;
    }
  }
  return out;
}

void dir_sync::listed(unsigned dir, const dir_probe& before, time_ns probed_at_ns, bool applied) {
  trusted_set_.reset(dir);
  if (!applied) return;
  if (before.state != dir_probe::directory) return;
  if (settled(before.mtime_ns, probed_at_ns)) {
    trusted_[dir] = before.mtime_ns;
    trusted_set_.set(dir);
  }
}

dir_diff compare_listing(std::vector<std::string> listed, std::vector<std::string> indexed) {
  std::sort(listed.begin(), listed.end());
  std::sort(indexed.begin(), indexed.end());
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  indexed.erase(std::unique(indexed.begin(), indexed.end()), indexed.end());
  dir_diff out;
  std::set_difference(listed.begin(), listed.end(), indexed.begin(), indexed.end(),
                      std::back_inserter(out.added));
  std::set_difference(indexed.begin(), indexed.end(), listed.begin(), listed.end(),
                      std::back_inserter(out.gone));
  return out;
}

}  // namespace larder::detail::disk
