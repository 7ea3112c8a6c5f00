// path_op's state machine without a ring, a pool or a file: tables of the results a backend
// hands it (one per step when the steps run one by one, or the CQEs a linked chain posts),
// each with the outcome: finished or not, a CQE still to come, the failed step and error.
// No test here opens a descriptor: every result is made up, so a descriptor number in one
// is never a real file's.
#include <catch2/catch.hpp>
#include <cerrno>
#include <string>
#include <system_error>
#include <vector>

#include "io/file_ops.hpp"

using larder::detail::io::open_spec;
using larder::detail::io::path_step;
using larder::detail::io::read_file_op;
using larder::detail::io::sync_file_op;
using larder::detail::io::write_file_op;

namespace {

enum class kind { read100, write_install, sync };

// An op as the disk store makes them. Never started: the test drives it by hand.
larder::detail::io::path_op* make(kind k) {
  open_spec spec{-1, "entry.tmp", 0, 0, std::nullopt};
  switch (k) {
    case kind::read100:
      return new read_file_op(std::move(spec), 100);
    case kind::write_install: {
      std::vector<larder::blob> parts{larder::blob::copy_of("0123456789"),
                                      larder::blob::copy_of("abcdefghij")};
      return new write_file_op(std::move(spec), "entry.bin", std::move(parts));
    }
    case kind::sync:
      return new sync_file_op(std::move(spec), true);
  }
  return nullptr;
}

struct deleter {
  void operator()(larder::detail::io::path_op* o) const { o->release(); }
};
using op_ptr = std::unique_ptr<larder::detail::io::path_op, deleter>;

struct outcome {
  bool finished;
  path_step failed;
  int error;  // errno, 0 for none
};

void check(const larder::detail::io::path_op& o, const outcome& want) {
  CHECK(o.failed_step() == want.failed);
  if (want.error == 0)
    CHECK_FALSE(o.error());
  else
    CHECK(o.error() == std::error_code(want.error, std::system_category()));
}

}  // namespace

// --- one step at a time (the thread-pool backend, or a ring without chains) ---

struct stepwise_case {
  const char* title;
  kind what;
  std::vector<int> results;  // the result of each step issued, in order
  outcome want;
  std::size_t bytes_read = 0;  // read100 only
};

TEST_CASE("path_op: results of steps issued one by one", "[io][path_op]") {
  const std::vector<stepwise_case> cases = {
      {"read: open, the whole file, close",
       kind::read100,
       {7, 100, 0},
       {true, path_step::done, 0},
       100},
      {"read: a short read is the end of the file",
       kind::read100,
       {7, 40, 0},
       {true, path_step::done, 0},
       40},
      // Below 1 GiB a read is one call: a short one is not continued (the page cache ends
      // there, and the caller reads the rest with a waiting read).
      {"read: a short read is not continued",
       kind::read100,
       {7, 60, 0},
       {true, path_step::done, 0},
       60},
      {"read: EINTR on open and on the read are issued again",
       kind::read100,
       {-EINTR, 7, -EINTR, 100, 0},
       {true, path_step::done, 0},
       100},
      {"read: open fails", kind::read100, {-ENOENT}, {true, path_step::open, ENOENT}},
      {"read: EAGAIN from a non-waiting read ends it, after the close",
       kind::read100,
       {7, -EAGAIN, 0},
       {true, path_step::io, EAGAIN}},
      {"read: close fails after a whole read",
       kind::read100,
       {7, 100, -EIO},
       {true, path_step::close, EIO},
       100},
      {"read: EINTR from close counts as closed",
       kind::read100,
       {7, 100, -EINTR},
       {true, path_step::done, 0},
       100},
      {"write: open, write, close, rename",
       kind::write_install,
       {7, 20, 0, 0},
       {true, path_step::done, 0}},
      {"write: a short write is continued",
       kind::write_install,
       {7, 5, 15, 0, 0},
       {true, path_step::done, 0}},
      {"write: a write that takes nothing is an I/O error, and the temp is unlinked",
       kind::write_install,
       {7, 0, 0, 0},
       {true, path_step::io, EIO}},
      {"write: ENOSPC, then close and unlink",
       kind::write_install,
       {7, -ENOSPC, 0, 0},
       {true, path_step::io, ENOSPC}},
      {"write: close fails (a deferred write error), the temp is unlinked",
       kind::write_install,
       {7, 20, -EIO, 0},
       {true, path_step::close, EIO}},
      {"write: rename fails, the temp is unlinked",
       kind::write_install,
       {7, 20, 0, -EXDEV, 0},
       {true, path_step::rename, EXDEV}},
      {"write: the unlink failing too keeps the first error",
       kind::write_install,
       {7, 20, 0, -EXDEV, -EROFS},
       {true, path_step::rename, EXDEV}},
      {"write: open fails, nothing to unlink",
       kind::write_install,
       {-EEXIST},
       {true, path_step::open, EEXIST}},
      {"sync: open, fdatasync, close", kind::sync, {7, 0, 0}, {true, path_step::done, 0}},
      {"sync: fdatasync fails", kind::sync, {7, -EIO, 0}, {true, path_step::io, EIO}},
  };
  for (const auto& c : cases) {
    SECTION(c.title) {
      op_ptr o(make(c.what));
      bool finished = false;
      for (std::size_t i = 0; i < c.results.size(); ++i) {
        INFO("result " << i << " = " << c.results[i]);
        REQUIRE_FALSE(finished);
        finished = o->complete(c.results[i]);
      }
      CHECK(finished == c.want.finished);
      check(*o, c.want);
      if (c.what == kind::read100 && !c.want.error)
        CHECK(static_cast<read_file_op&>(*o).take().size() == c.bytes_read);
    }
  }
}

#if LARDER_HAVE_IO_URING

// --- linked chains (the io_uring backend): which CQEs the kernel posts, and the replay ---

struct cqe {
  unsigned position;
  int res;
};

struct chain_case {
  const char* title;
  kind what;
  unsigned length;
  std::vector<cqe> posted;
  bool pending_after_last;    // chain_pending() once every posted CQE is in
  bool finished_after_chain;  // what the last complete_chain returned
  std::vector<int> then;      // results of steps issued on their own after the chain
  outcome want;
};

TEST_CASE("path_op: the CQEs of a linked chain, replayed into the state machine",
          "[io][path_op][chain]") {
  const std::vector<chain_case> cases = {
      // read: open =link,skip=> read =hardlink=> close. The read posts its CQE and the close
      // its own, whatever the read returned.
      {"read chain: both CQEs",
       kind::read100,
       3,
       {{1, 100}, {2, 0}},
       false,
       true,
       {},
       {true, path_step::done, 0}},
      {"read chain: the close's CQE first",
       kind::read100,
       3,
       {{2, 0}, {1, 100}},
       false,
       true,
       {},
       {true, path_step::done, 0}},
      {"read chain: short read",
       kind::read100,
       3,
       {{1, 40}, {2, 0}},
       false,
       true,
       {},
       {true, path_step::done, 0}},
      {"read chain: EAGAIN, the file is closed by the chain",
       kind::read100,
       3,
       {{1, -EAGAIN}, {2, 0}},
       false,
       true,
       {},
       {true, path_step::io, EAGAIN}},
      {"read chain: the open fails and nothing else posts",
       kind::read100,
       3,
       {{0, -ENOENT}},
       false,
       true,
       {},
       {true, path_step::open, ENOENT}},
      {"read chain: the close fails",
       kind::read100,
       3,
       {{1, 100}, {2, -EIO}},
       false,
       true,
       {},
       {true, path_step::close, EIO}},
      // write + install: open -> writev -> close -> rename, each link skipping success: one
      // CQE, the first failure's or the rename's.
      {"write chain: only the rename posts",
       kind::write_install,
       4,
       {{3, 0}},
       false,
       true,
       {},
       {true, path_step::done, 0}},
      {"write chain: the open fails",
       kind::write_install,
       4,
       {{0, -EEXIST}},
       false,
       true,
       {},
       {true, path_step::open, EEXIST}},
      {"write chain: a short write stops the chain; the rest goes on step by step",
       kind::write_install,
       4,
       {{1, 5}},
       false,
       false,
       {15, 0, 0},
       {true, path_step::done, 0}},
      {"write chain: ENOSPC stops it; close, then unlink",
       kind::write_install,
       4,
       {{1, -ENOSPC}},
       false,
       false,
       {0, 0},
       {true, path_step::io, ENOSPC}},
      {"write chain: the close fails; unlink",
       kind::write_install,
       4,
       {{2, -EIO}},
       false,
       false,
       {0},
       {true, path_step::close, EIO}},
      {"write chain: the rename fails; unlink",
       kind::write_install,
       4,
       {{3, -EXDEV}},
       false,
       false,
       {0},
       {true, path_step::rename, EXDEV}},
      // sync: open -> fdatasync -> close; one CQE.
      {"sync chain: only the close posts",
       kind::sync,
       3,
       {{2, 0}},
       false,
       true,
       {},
       {true, path_step::done, 0}},
      {"sync chain: fdatasync fails and the chain stops; close alone",
       kind::sync,
       3,
       {{1, -EIO}},
       false,
       false,
       {0},
       {true, path_step::io, EIO}},
  };
  for (const auto& c : cases) {
    SECTION(c.title) {
      op_ptr o(make(c.what));
      REQUIRE(o->chain_length() == c.length);
      io_uring_sqe storage[4] = {};
      io_uring_sqe* sqes[4] = {&storage[0], &storage[1], &storage[2], &storage[3]};
      o->prepare_chain(sqes, 3);
      CHECK(o->chain_length() == 0);  // one chain per request
      // Every link but the last skips its CQE on success; a one-shot read hard-links on.
      for (unsigned i = 0; i + 1 < c.length; ++i) {
        const bool one_shot_read = c.what == kind::read100 && i == 1;
        CHECK((storage[i].flags & IOSQE_IO_HARDLINK) == (one_shot_read ? IOSQE_IO_HARDLINK : 0));
        CHECK((storage[i].flags & IOSQE_IO_LINK) == (one_shot_read ? 0 : IOSQE_IO_LINK));
      }
      CHECK(o->chain_pending());
      bool finished = false;
      for (std::size_t i = 0; i < c.posted.size(); ++i) {
        INFO("CQE " << i << " at position " << c.posted[i].position << " = " << c.posted[i].res);
        finished = o->complete_chain(c.posted[i].position, c.posted[i].res);
        if (i + 1 < c.posted.size()) CHECK(o->chain_pending());
      }
      CHECK(o->chain_pending() == c.pending_after_last);
      CHECK(finished == c.finished_after_chain);
      for (std::size_t i = 0; i < c.then.size(); ++i) {
        INFO("then, step " << i << " = " << c.then[i]);
        REQUIRE_FALSE(finished);
        finished = o->complete_chain(0, c.then[i]);  // no chain in flight: plain steps
      }
      CHECK(finished == c.want.finished);
      check(*o, c.want);
      CHECK(o->take_slot() == 3);
      CHECK(o->take_slot() == -1);
    }
  }
}

#endif
