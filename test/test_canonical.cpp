#include "larder/canonical.hpp"

#include <catch2/catch.hpp>

#include "larder/fingerprint.hpp"

namespace {
enum class stage : short { vertex = 1, fragment = 2 };
struct opaque {};
}  // namespace

TEST_CASE("canonical covers the standard vocabulary types") {
  STATIC_REQUIRE(larder::canonicalizable<int>);
  STATIC_REQUIRE(larder::canonicalizable<stage>);
  STATIC_REQUIRE(larder::canonicalizable<std::vector<std::pair<std::string, long>>>);
  STATIC_REQUIRE(larder::canonicalizable<std::map<std::string, std::vector<int>>>);
  STATIC_REQUIRE_FALSE(larder::canonicalizable<opaque>);
  // An enum hashes as its value, whatever its underlying width.
  CHECK(larder::fingerprint::of_value(stage::fragment) == larder::fingerprint::of_value(2));
  CHECK(larder::fingerprint::of_value(true) != larder::fingerprint::of_value(false));
}
