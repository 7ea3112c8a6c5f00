#include "larder/result.hpp"

#include <catch2/catch.hpp>
#include <string>

TEST_CASE("result holds a value or an error") {
  larder::result<std::string> ok = std::string("v");
  REQUIRE(ok);
  CHECK(*ok == "v");
  CHECK(ok->size() == 1);
  CHECK_FALSE(ok.error());

  larder::result<std::string> bad = larder::errc::io_error;
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == larder::errc::io_error);
  CHECK(bad.value_or("fallback") == "fallback");
  CHECK_THROWS_AS(bad.value(), std::system_error);

  larder::result<int> from_code = std::make_error_code(std::errc::no_space_on_device);
  CHECK(from_code.error() == std::errc::no_space_on_device);
}
