// A floor for any io_uring design of the disk store's layout: bare liburing, no store. Each
// thread owns a ring and keeps `inflight` requests going, each one chain of linked requests
// on a registered-file slot, as larder's engine issues them: a put is create, writev, close,
// rename of a temp file in the entry's fan-out directory; a get is openat2 (beneath the
// root, no symlinks), a read of one byte more than the file, close. The files are the
// store's sizes (a 32-byte header, the key, the payload, a 32-byte BLAKE3 footer), and the
// hashing is the store's: the footer computed at put, checked at get. What it leaves out is
// everything a store adds: an index, an eviction order, metrics, coroutines, an executor
// shared by threads, the eventfd that wires a ring into Asio. Its figures bound what larder
// could reach on this machine and file system.
#pragma once

#include <fcntl.h>
#include <liburing.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "larder/blob.hpp"
#include "larder/fingerprint.hpp"
#include "larder/hasher.hpp"

namespace larder::bench {

class bare_uring {
 public:
  /// `root` must exist; the 256 fan-out directories are made here.
  explicit bare_uring(const std::string& root)
      : root_fd_(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
    if (root_fd_ < 0) die("open the root", errno);
    for (int i = 0; i < 256; ++i) {
      char dir[3];
      std::snprintf(dir, sizeof dir, "%02x", i);
      ::mkdirat(root_fd_, dir, 0755);
    }
  }
  ~bare_uring() { ::close(root_fd_); }
  bare_uring(const bare_uring&) = delete;
  bare_uring& operator=(const bare_uring&) = delete;

  /// Puts keys[i] = values[i % values.size()] for every i.
  void put_all(unsigned threads, unsigned inflight, const std::vector<std::string>& keys,
               const std::vector<larder::blob>& values) {
    run(threads, inflight, keys.size(), [&](io_uring& ring, slot& s, unsigned i) {
      const auto& key = keys[i];
      const auto& value = values[i % values.size()];
      s.path = relative_path(key);
      s.temp = s.path + ".tmp." + std::to_string(i);
      s.head.assign(32 + key.size(), std::byte{0});
      std::memcpy(s.head.data() + 32, key.data(), key.size());
      larder::hasher h;
      h.update(s.head);
      h.update(value.bytes());
      h.finalize_into(s.foot);
      s.iov[0] = {s.head.data(), s.head.size()};
      s.iov[1] = {const_cast<std::byte*>(value.data()), value.size()};
      s.iov[2] = {s.foot, sizeof s.foot};
      s.expect_cqes = 1;
      io_uring_sqe* sqe[4];
      for (auto*& q : sqe)
        q = io_uring_get_sqe(&ring);
      io_uring_prep_openat_direct(sqe[0], root_fd_, s.temp.c_str(), O_WRONLY | O_CREAT | O_EXCL,
                                  0644, s.index);
      io_uring_prep_writev(sqe[1], static_cast<int>(s.index), s.iov, 3, 0);
      io_uring_prep_close_direct(sqe[2], s.index);
      io_uring_prep_renameat(sqe[3], root_fd_, s.temp.c_str(), root_fd_, s.path.c_str(), 0);
      sqe[1]->flags |= IOSQE_FIXED_FILE;
      for (int k = 0; k < 3; ++k)
        sqe[k]->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      for (auto* q : sqe)
        io_uring_sqe_set_data64(q, s.index);
    });
  }

  /// Gets keys[picks[i]] for every i (stored by put_all with values of `value_size` bytes).
  void get_all(unsigned threads, unsigned inflight, const std::vector<std::string>& keys,
               const std::vector<unsigned>& picks, std::size_t value_size) {
    run(threads, inflight, picks.size(), [&](io_uring& ring, slot& s, unsigned i) {
      const auto& key = keys[picks[i]];
      s.key = key;
      s.path = relative_path(key);
      s.file.resize(32 + key.size() + value_size + 32 + 1);
      s.expect_cqes = 2;
      open_how how{};
      how.flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
      s.how = how;
      io_uring_sqe* sqe[3];
      for (auto*& q : sqe)
        q = io_uring_get_sqe(&ring);
      io_uring_prep_openat2_direct(sqe[0], root_fd_, s.path.c_str(), &s.how, s.index);
      io_uring_prep_read(sqe[1], static_cast<int>(s.index), s.file.data(),
                         static_cast<unsigned>(s.file.size()), 0);
      sqe[1]->rw_flags = RWF_NOWAIT;
      io_uring_prep_close_direct(sqe[2], s.index);
      sqe[0]->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      sqe[1]->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
      for (auto* q : sqe)
        io_uring_sqe_set_data64(q, s.index | (q == sqe[1] ? read_tag : 0));
    });
  }

 private:
  static constexpr std::uint64_t read_tag = std::uint64_t{1} << 32;

  struct slot {
    unsigned index = 0;
    unsigned expect_cqes = 0;
    std::string key, path, temp;
    std::vector<std::byte> head;
    std::byte foot[32];
    iovec iov[3];
    open_how how{};
    std::vector<std::byte> file;
    int read_result = 0;
  };

  [[noreturn]] static void die(const char* what, int error) {
    std::fprintf(stderr, "bare io_uring baseline: %s: %s\n", what, std::strerror(error));
    std::exit(1);
  }

  static std::string relative_path(const std::string& key) {
    const auto hex = larder::fingerprint::of(key).to_hex();
    return hex.substr(0, 2) + "/" + hex + ".bin";
  }

  // A get's read: exactly the file (the extra byte found nothing), and a matching footer.
  // When the page cache did not hold it all (EAGAIN, or short), a waiting read, as a store
  // would fall back to.
  void check_read(slot& s) const {
    const auto size = s.file.size() - 1;
    if (s.read_result != static_cast<int>(size)) {
      const int fd = ::openat(root_fd_, s.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      s.read_result = fd < 0 ? -errno : static_cast<int>(::pread(fd, s.file.data(), size + 1, 0));
      if (fd >= 0) ::close(fd);
      if (s.read_result != static_cast<int>(size)) die("a get read the wrong size", EIO);
    }
    std::byte digest[32];
    larder::hasher h;
    h.update(std::span(s.file.data(), size - 32));
    h.finalize_into(digest);
    if (std::memcmp(digest, s.file.data() + size - 32, 32) != 0) die("a footer mismatch", EIO);
  }

  template <class Start>
  void run(unsigned threads, unsigned inflight, std::size_t count, Start start) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t)
      pool.emplace_back([&] {
        io_uring ring{};
        if (int r = io_uring_queue_init(4 * inflight, &ring, 0); r < 0) die("queue_init", -r);
        if (int r = io_uring_register_files_sparse(&ring, inflight); r < 0)
          die("register_files_sparse", -r);
        std::vector<slot> slots(inflight);
        unsigned busy = 0;
        auto begin = [&](slot& s) {
          const auto i = next.fetch_add(1);
          if (i >= count) return;
          start(ring, s, static_cast<unsigned>(i));
          ++busy;
        };
        for (unsigned k = 0; k < inflight; ++k) {
          slots[k].index = k;
          begin(slots[k]);
        }
        while (busy > 0) {
          io_uring_submit_and_wait(&ring, 1);
          io_uring_cqe* cqe;
          unsigned head, seen = 0;
          std::vector<unsigned> done;
          io_uring_for_each_cqe(&ring, head, cqe) {
            ++seen;
            auto& s = slots[cqe->user_data & 0xffffffffu];
            if (cqe->user_data & read_tag) {
              s.read_result = cqe->res;
            } else if (cqe->res < 0) {
              die("a request failed", -cqe->res);
            }
            if (--s.expect_cqes == 0) done.push_back(s.index);
          }
          io_uring_cq_advance(&ring, seen);
          for (unsigned k : done) {
            --busy;
            if (!slots[k].file.empty()) check_read(slots[k]);
            begin(slots[k]);
          }
        }
        io_uring_queue_exit(&ring);
      });
    for (auto& t : pool)
      t.join();
  }

  int root_fd_;
};

}  // namespace larder::bench
