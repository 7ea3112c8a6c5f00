// Who else has a cache directory open (docs/disk-format.md, "Openers"). Every disk_store
// holds a shared lock on `<root>/larder.lock` for as long as it is open, and appends one
// byte to the file when it opens. A store about to save its index first closes the gate
// (an exclusive flock on the same file, which joiners also take while they join), then
// asks whether any other lock is held: none, so no other opener is alive; and when the file
// is still as long as it was after its own byte, none came and went meanwhile. Only then is
// its index the whole directory, and nobody can join until the save is done.
//
// The shared lock is an open-file-description lock (F_OFD_SETLK): two stores in one process
// see each other as two processes do, closing another descriptor of the file releases
// nothing, and F_OFD_GETLK tests for other holders without giving ours up (a refused
// flock(2) upgrade may drop the lock it had). The descriptor held is read-only, so an open
// store does not stop its file system from being remounted read-only; the byte is appended
// through a second descriptor closed at once.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <string>

#include "larder/io_engine.hpp"
#include "larder/result.hpp"

namespace larder::detail::disk {

class presence {
 public:
  presence() = default;
  presence(presence&& other) noexcept;
  presence& operator=(presence&& other) noexcept;
  ~presence();

  // Opens (creating) the lock file beneath `root_fd`, passes the gate (waiting while a saver
  // or another joiner holds it, up to `wait_ms`, then errc::timed_out), takes the shared
  // lock and appends the byte. Fails with the errno of an open (EROFS, EACCES: a read-only
  // cache), a lock or the append.
  static asio::awaitable<result<presence>> join(io_engine& engine, int root_fd, unsigned wait_ms);

  bool joined() const noexcept { return fd_ >= 0; }
  // Closes the gate, at once or not at all (false: another store is joining or saving).
  bool try_close_gate() noexcept;
  void open_gate() noexcept;
  // With the gate closed: whether no other store has had the directory open since this one
  // joined. When so, the counting starts again from an empty file.
  asio::awaitable<result<bool>> alone_since_join(io_engine& engine, int root_fd);

 private:
  int fd_ = -1;
  std::uint64_t length_ = 0;  // the lock file's length just after this opener's byte
  bool counted_ = false;      // no other opener's byte came between our look and our byte
};

}  // namespace larder::detail::disk
