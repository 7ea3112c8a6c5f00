#include "larder/hasher.hpp"

#include <catch2/catch.hpp>

#include "larder/fingerprint.hpp"

TEST_CASE("a copied hasher continues independently") {
  larder::hasher h;
  h.update("common prefix ");
  larder::hasher copy = h;
  h.update("left");
  copy.update("right");
  CHECK(h.finalize() == larder::fingerprint::of("common prefix left"));
  CHECK(copy.finalize() == larder::fingerprint::of("common prefix right"));
  // finalize does not consume: more input can follow.
  h.update("!");
  CHECK(h.finalize() == larder::fingerprint::of("common prefix left!"));
}
