// larder's error codes: one std::error_category for every fault a store can report.
#pragma once

#include <string>
#include <system_error>

namespace larder {

/// Why an operation failed. A miss is never an error; these are faults and refusals. The
/// values start at 1: 0 is success in std::error_code, and no errc means success.
enum class errc {
  value_too_large = 1,    ///< the value exceeds the store's per-entry limit
  store_disabled,         ///< the store has a zero budget and keeps nothing
  invalid_hex,            ///< a fingerprint's hex form is malformed
  invalid_argument,       ///< a parameter is outside what the operation accepts
  io_error,               ///< the operating system reported an I/O fault
  corrupt_entry,          ///< stored bytes failed verification and were discarded
  no_space,               ///< the device or the store's capacity is full
  no_cache_directory,     ///< neither $XDG_CACHE_HOME nor $HOME names a cache directory
  not_a_cache_directory,  ///< the directory exists but is not a larder cache
  backend_unavailable,    ///< a remote tier or an io backend cannot be reached
  timed_out,              ///< a request took longer than its configured deadline
  shut_down,              ///< the component is shutting down and takes no new work
  loader_failed,          ///< a get_or_load loader reported a failure
  cancelled,              ///< the caller's cancellation slot fired
  remote_error,           ///< a remote tier refused the command (an error reply)
  remote_setup_failed,    ///< a remote tier refused the connection's setup (auth, db, policy)
  directory_shared,       ///< another process opened the cache directory meanwhile
};

/// The category of larder::errc; its name is "larder".
const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), error_category()};
}

}  // namespace larder

template <>
struct std::is_error_code_enum<larder::errc> : std::true_type {};
