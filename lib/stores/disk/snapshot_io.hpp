// Reading the saved index at open (for the background scan) and writing it in
// disk_store::save_index(): the I/O around snapshot.hpp's codec and decisions.
#pragma once

#include <asio/awaitable.hpp>
#include <bitset>
#include <vector>

#include "stores/disk/snapshot.hpp"
#include "stores/disk/state.hpp"

namespace larder::detail::disk {

struct loaded_index {
  std::bitset<256> dirs;                // the directories it stands for
  std::vector<snapshot_entry> entries;  // theirs, least recently used first
  time_ns written_ns = 0;
  bool refused = false;  // a saved index was there and failed its checks
};

// Nothing (an empty set of directories) when use_saved_index is off, there is no saved
// index, it fails its checks, or no directory is as it was saved.
asio::awaitable<loaded_index> load_saved_index(disk_store::impl& s);

}  // namespace larder::detail::disk
