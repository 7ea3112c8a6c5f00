// Factories for the two backends behind io_engine.
#pragma once

// Asio first: its config decides between operator new and aligned_alloc for recycled handler
// memory by whether a libstdc++ header came before it. Every larder translation unit must
// decide alike, or a block allocated in one is freed the other way in another.
#include <asio/io_context.hpp>
// Before liburing: its <linux/fs.h> defines a BLOCK_SIZE macro, a member name in the queue.
#include <concurrentqueue/concurrentqueue.h>
#include <memory>
#include <system_error>

#include "io/op.hpp"
#include "larder/io_engine.hpp"

namespace larder::detail::io {

/// Our own ring, driven by `io` through an eventfd. Null, with the reason in `why`, when
/// io_uring cannot be set up here (EPERM under seccomp, ENOSYS, io_uring_disabled, an old
/// kernel missing an opcode we need).
std::shared_ptr<backend> make_uring_backend(asio::io_context& io, const io_engine_options& options,
                                            std::error_code& why);

/// Blocking system calls on `options.max_workers` threads.
std::shared_ptr<backend> make_pool_backend(const io_engine_options& options);

}  // namespace larder::detail::io
