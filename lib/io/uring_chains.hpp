// Linked chains for path requests (see path_op): a request's open, I/O, close and rename go
// into the ring as one chain of linked SQEs on a registered-file slot, so that the kernel
// runs them back to back (on one io-wq worker when the first step blocks) and posts one
// CQE for the lot instead of one per step, each of which would cost a wake-up and a
// round trip through the strand.
#pragma once

#include <liburing.h>

namespace larder::detail::io {

/// Chains are used only when this returns true: the kernel offers IORING_FEAT_CQE_SKIP and
/// sparse registered files, and a probe on a scratch ring shows the one-CQE-per-chain rule
/// that the backend counts on (a failing step posts its CQE and silences the rest; a chain
/// that succeeds posts only its last). Then `slots` empty slots are registered on `ring`.
bool set_up_linked_chains(io_uring& ring, const io_uring_params& params, unsigned slots);

}  // namespace larder::detail::io
