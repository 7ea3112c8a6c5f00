// Who else has a cache directory open (docs/disk-format.md, "Openers"). Every disk_store
// holds a shared lock on byte 0 of `<root>/larder.lock` for as long as it is open, and
// appends one byte to the file when it opens. Joining and saving hold the gate, an
// exclusive lock on byte 1, so that they never overlap. A store about to save its index
// closes the gate, then asks whether any other lock on byte 0 is held: none, so no other
// opener is alive; no other was alive when it joined either; and the file is still as long
// as it was after its own byte, so none came and went. Only then is its index the whole
// directory, and nobody can join until the save is done.
//
// All of them are open-file-description locks (F_OFD_SETLK): two stores in one process see
// each other as two processes do, closing another descriptor of the file releases nothing,
// F_OFD_GETLK tests for other holders without giving ours up, and they mean the same on
// file systems that emulate flock(2) with POSIX locks. The descriptor held for the store's
// life is read-only, so an open store does not stop a read-only remount; the byte, the gate
// and the truncation use a second descriptor, closed as soon as they are done.
//
// Sharing (docs/disk-format.md, "Sharing a root"): `<root>/larder.joins` holds a count of
// joins, bumped by each join behind the gate and mapped read-only by every opener, so that
// a store learns without a system call whether anyone has joined since it did: a get's
// miss then looks at the path, because another process may have put the key.
#pragma once

#include <asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "larder/io_engine.hpp"
#include "larder/result.hpp"

namespace larder::detail::disk {

class presence {
 public:
  // The gate, closed while this object lives (a writable descriptor holding byte 1).
  class gate {
   public:
    explicit gate(int fd) noexcept : fd_(fd) {}
    gate(gate&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    gate& operator=(gate&&) = delete;
    ~gate();
    int fd() const noexcept { return fd_; }

   private:
    int fd_;
  };

  presence() = default;
  presence(presence&& other) noexcept;
  presence& operator=(presence&& other) noexcept;
  ~presence();

  // Opens (creating) the lock file beneath `root_fd`, closes the gate (waiting while another
  // store joins or saves, up to `wait_ms`, then errc::timed_out), takes the shared lock and
  // appends the byte. Fails with the errno of an open (EROFS: a read-only cache; EACCES), a
  // lock or the append, or errc::not_a_cache_directory when the name is not a regular file.
  static asio::awaitable<result<presence>> join(io_engine& engine, int root_fd, unsigned wait_ms);

  bool joined() const noexcept { return fd_ >= 0; }
  // Whether another store may have changed the directory since this one joined: one was
  // open at the join, or another has joined since (or this store cannot tell: not joined,
  // or the count could not be mapped). A plain load from shared memory.
  bool shared() const noexcept;
  // Closes the gate at once, or not at all (nullopt: another store is joining or saving).
  asio::awaitable<result<std::optional<gate>>> try_close_gate(io_engine& engine, int root_fd);
  // With the gate closed: whether no other store has had the directory open since this one
  // joined. When so, the counting starts again from an empty file.
  asio::awaitable<result<bool>> alone_since_join(io_engine& engine, gate& closed);

 private:
  int fd_ = -1;
  std::uint64_t length_ = 0;  // the lock file's length just after this opener's byte
  bool counted_ = false;      // alone when it joined, and its byte was the only one added
  bool alone_at_join_ = false;
  // The mapped count of joins (nullptr: not mapped) and its value just after our own join.
  const std::uint64_t* joins_ = nullptr;
  std::uint64_t joins_seen_ = 0;

  void release() noexcept;
};

}  // namespace larder::detail::disk
