// Reading the saved index at open (for the background scan) and writing it in
// disk_store::save_index(): the I/O around snapshot.hpp's codec and decisions.
#pragma once

#include <asio/awaitable.hpp>
#include <bitset>
#include <string>
#include <unordered_map>
#include <vector>

#include "stores/disk/snapshot.hpp"
#include "stores/disk/state.hpp"

namespace larder::detail::disk {

struct loaded_index {
  struct entry {
    snapshot_entry saved;
    time_ns used_ns;  // its place in the saved order of use, as a time before the save
  };
  std::bitset<256> dirs;       // the directories it stands for
  std::vector<entry> entries;  // theirs
  // The saved entries of the other directories, by key: a file the scan finds unchanged
  // since the save (mtime not after written_ns) takes its place in the order from here.
  std::unordered_map<std::string, time_ns> ranks;
  time_ns written_ns = 0;
  bool refused = false;  // a saved index was there and failed its checks
};

// Nothing (an empty set of directories) when use_saved_index is off, there is no saved
// index, it fails its checks, or no directory is as it was saved.
asio::awaitable<loaded_index> load_saved_index(disk_store::impl& s);

}  // namespace larder::detail::disk
