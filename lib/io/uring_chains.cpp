#include "io/uring_chains.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstdint>
#include <map>

namespace larder::detail::io {
namespace {

// On a scratch ring, where a stray CQE cannot reach an op, chains as path_op makes them:
//   open "" (fails) -> close                   posts only the open's CQE: 1 = -ENOENT
//   open "/" -> close                          posts only the close's: 6 = 0
//   open "" (fails) -> read =hard=> close      posts only the open's: 9 = -ENOENT
//   open "/" -> read (EISDIR) =hard=> close    posts the read's and the close's: 14, 15
bool probe_chain_cqes() {
  io_uring ring{};
  if (io_uring_queue_init(16, &ring, 0) < 0) return false;
  bool ok = io_uring_register_files_sparse(&ring, 4) == 0;
  std::map<std::uint64_t, int> seen;
  auto collect = [&](unsigned want) {
    __kernel_timespec ts{1, 0};
    while (seen.size() < want) {
      io_uring_cqe* cqe = nullptr;
      const int r = io_uring_wait_cqe_timeout(&ring, &cqe, &ts);
      if (r == -EINTR) continue;
      if (r < 0) return;
      seen[cqe->user_data] = cqe->res;
      io_uring_cqe_seen(&ring, cqe);
    }
  };
  char byte = 0;
  if (ok) {
    const char* paths[2] = {"", "/"};
    for (unsigned i = 0; i < 4; ++i) {
      const bool with_read = i >= 2;
      const std::uint64_t tag = 1 + 4 * i;
      io_uring_sqe* open = io_uring_get_sqe(&ring);
      io_uring_prep_openat_direct(open, AT_FDCWD, paths[i % 2], O_RDONLY, 0, i);
      open->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe_set_data64(open, tag);
      if (with_read) {
        io_uring_sqe* read = io_uring_get_sqe(&ring);
        io_uring_prep_read(read, static_cast<int>(i), &byte, 1, 0);
        read->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
        io_uring_sqe_set_data64(read, tag + 1);
      }
      io_uring_sqe* close = io_uring_get_sqe(&ring);
      io_uring_prep_close_direct(close, i);
      io_uring_sqe_set_data64(close, tag + (with_read ? 2 : 1));
    }
    ok = io_uring_submit(&ring) == 10;
  }
  const std::map<std::uint64_t, int> expected{{1, -ENOENT},  {6, 0},  {9, -ENOENT},
                                              {14, -EISDIR}, {15, 0}, {99, 0}};
  if (ok) {
    collect(expected.size() - 1);
    // A NOP behind them flushes out any CQE that should not have been posted.
    io_uring_sqe* nop = io_uring_get_sqe(&ring);
    io_uring_prep_nop(nop);
    io_uring_sqe_set_data64(nop, 99);
    ok = io_uring_submit(&ring) == 1;
    collect(expected.size());
    if (io_uring_cqe* extra = nullptr; io_uring_peek_cqe(&ring, &extra) == 0) ok = false;
    ok = ok && seen == expected;
  }
  io_uring_queue_exit(&ring);
  return ok;
}

}  // namespace

bool set_up_linked_chains(io_uring& ring, const io_uring_params& params, unsigned slots) {
  if (!(params.features & IORING_FEAT_CQE_SKIP) || slots == 0) return false;
  if (!probe_chain_cqes()) return false;
  return io_uring_register_files_sparse(&ring, slots) == 0;
}

}  // namespace larder::detail::io
