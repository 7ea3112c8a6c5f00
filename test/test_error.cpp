#include "larder/error.hpp"

#include <catch2/catch.hpp>

TEST_CASE("larder errors have their own category and readable messages") {
  std::error_code ec = larder::errc::value_too_large;
  CHECK(ec.category().name() == std::string("larder"));
  CHECK(ec.message().find("larger") != std::string::npos);
  CHECK(ec == std::errc::value_too_large);
  CHECK(std::error_code(larder::errc::no_space) == std::errc::no_space_on_device);
  CHECK(std::error_code(larder::errc::corrupt_entry).message().find("verification") !=
        std::string::npos);
  // Every code is an error: none of them reads as success.
  CHECK(static_cast<int>(larder::errc::value_too_large) == 1);
  for (int v = 1; v <= static_cast<int>(larder::errc::directory_shared); ++v) {
    CHECK(larder::make_error_code(static_cast<larder::errc>(v)));
    const auto message = larder::make_error_code(static_cast<larder::errc>(v)).message();
    INFO(v);
    CHECK(message.find("unknown") == std::string::npos);
  }
  CHECK(larder::make_error_code(static_cast<larder::errc>(999)).message().find("unknown") !=
        std::string::npos);
}
