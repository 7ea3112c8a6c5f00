// Learning an entry file's key from its header, and listing a fan-out directory: what the
// scan after open (scan.cpp) and the refresh of a shared root (sharing.cpp) both do.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <asio/awaitable.hpp>

#include "stores/disk/state.hpp"

namespace larder::detail::disk {

// One entry file as read from its header.
struct found {
  std::string key;
  std::uint64_t size = 0;     // the whole file
  std::int64_t mtime_ns = 0;  // orders the rebuilt last-use ticks
  std::uint8_t dir = 0;       // its fan-out directory
};

// `<64 hex>.bin` inside directory `dir` ("ab"), named for its own directory.
bool is_entry_name(std::string_view name, std::string_view dir);
// `<64 hex>.bin.tmp.<pid>.<counter>`, as put names its temp files; nothing else is taken
// for one (a user's `notes.tmp.txt` beside the entries is left alone).
bool is_temp_name(std::string_view name, std::string_view dir);
// For a temp name: whether the process named in it is gone (its put can never finish).
bool writer_is_dead(std::string_view name);

// What reading one entry file's header told.
struct recovered {
  enum { entry, bad, unreadable } outcome = unreadable;
  found value;
};

// Reads just the header and key of the entry file at `path` (relative to the root, named
// `name`); the footer is left to get, which verifies the whole file before returning
// anything. Only a file whose bytes were read and found wrong (or a symlink, or not a
// regular file) is `bad`; an I/O error or a cancellation is `unreadable` (counted), a file
// gone since it was listed `unreadable` too (not counted).
asio::awaitable<recovered> recover(disk_store::impl& s, const std::string& path,
                                   std::string_view name);

// One fan-out directory's names. `exists` false: not there (ENOENT); `complete` false: it
// could not be opened or the listing was cut short (files in it may be missed).
struct dir_listing {
  bool exists = false;
  bool complete = false;
  std::error_code error;  // why not complete
  std::vector<std::string> names;
};
// Lists directory `dir` without following a symlink in its place. readdir is the one
// system call outside the engine: io_uring has no getdents.
asio::awaitable<dir_listing> list_dir(disk_store::impl& s, unsigned dir);

}  // namespace larder::detail::disk
