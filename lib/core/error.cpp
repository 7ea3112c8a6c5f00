#include "larder/error.hpp"

namespace larder {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "larder"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::value_too_large:
        return "value is larger than the store accepts for one entry";
      case errc::store_disabled:
        return "store is disabled (zero budget) and keeps nothing";
      case errc::invalid_hex:
        return "fingerprint hex must be exactly 64 characters 0-9 a-f";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::io_error:
        return "input/output error";
      case errc::corrupt_entry:
        return "stored entry failed verification and was discarded";
      case errc::no_space:
        return "no space left for the entry";
      case errc::no_cache_directory:
        return "no cache directory: set XDG_CACHE_HOME or HOME, or pass a directory";
      case errc::not_a_cache_directory:
        return "directory is not a larder cache";
      case errc::backend_unavailable:
        return "cache backend is unavailable";
      case errc::timed_out:
        return "operation timed out";
      case errc::shut_down:
        return "component is shutting down";
      case errc::loader_failed:
        return "loader failed to produce a value";
      case errc::cancelled:
        return "operation was cancelled";
      case errc::remote_error:
        return "remote tier answered the command with an error";
      case errc::remote_setup_failed:
        return "remote tier refused the connection's setup (authentication, database or "
               "eviction policy); the store's report names the step and the server's answer";
      case errc::directory_shared:
        return "another process opened the cache directory while this store had it open, so "
               "its index is not the whole directory and was not saved";
    }
    return "unknown larder error " + std::to_string(value);
  }

  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::value_too_large:
        return std::errc::value_too_large;
      case errc::invalid_hex:
      case errc::invalid_argument:
        return std::errc::invalid_argument;
      case errc::io_error:
        return std::errc::io_error;
      case errc::no_space:
        return std::errc::no_space_on_device;
      case errc::timed_out:
        return std::errc::timed_out;
      case errc::cancelled:
        return std::errc::operation_canceled;
      default:
        return {value, *this};
    }
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace larder
