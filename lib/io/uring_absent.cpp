// A larder built without liburing (-Dio_uring=disabled): io_engine::create asks for a ring
// as always, and is told why there is none, so `automatic` takes the thread pool and an
// explicit io_backend::io_uring fails with that reason.
#include "io/backends.hpp"
#include "larder/error.hpp"

namespace larder::detail::io {

std::shared_ptr<backend> make_uring_backend(asio::io_context&, const io_engine_options&,
                                            std::error_code& why) {
  why = make_error_code(errc::backend_unavailable);
  return nullptr;
}

}  // namespace larder::detail::io
