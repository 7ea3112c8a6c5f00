#include "larder/lookup.hpp"

#include <catch2/catch.hpp>

TEST_CASE("lookup tells a hit, a miss and a fault apart") {
  auto hit = larder::lookup::hit(larder::blob::copy_of(std::string_view("v")));
  CHECK(hit.is_hit());
  CHECK(static_cast<bool>(hit));
  CHECK(hit.value().view() == "v");

  auto miss = larder::lookup::miss();
  CHECK(miss.is_miss());
  CHECK_FALSE(static_cast<bool>(miss));
  CHECK_FALSE(miss.error());

  auto fault = larder::lookup::fault(larder::errc::corrupt_entry);
  CHECK(fault.is_fault());
  CHECK_FALSE(static_cast<bool>(fault));
  CHECK(fault.value().empty());
  CHECK(fault.error() == larder::errc::corrupt_entry);
}
