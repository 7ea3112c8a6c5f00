#include "larder/blob.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

using larder::blob;

TEST_CASE("copying a blob shares its bytes") {
  auto a = blob::copy_of(std::string_view("shader binary"));
  CHECK(a.use_count() == 1);
  blob b = a;
  CHECK(a.use_count() == 2);
  CHECK(b.data() == a.data());
  CHECK(b.shares_storage_with(a));
  CHECK(b == a);
  {
    blob c = b;
    CHECK(a.use_count() == 3);
  }
  CHECK(a.use_count() == 2);
  blob moved = std::move(b);
  CHECK(b.empty());
  CHECK(a.use_count() == 2);
  CHECK(moved.view() == "shader binary");
}

TEST_CASE("a blob adopts a caller's container without copying its bytes") {
  std::vector<std::byte> v(4096, std::byte{7});
  const auto* original = v.data();
  blob from_vector(std::move(v));
  CHECK(from_vector.data() == original);
  CHECK(from_vector.size() == 4096);

  std::string s(1000, 'x');
  const char* text = s.data();
  blob from_string(std::move(s));
  CHECK(reinterpret_cast<const char*>(from_string.data()) == text);
  CHECK(from_string.view() == std::string(1000, 'x'));

  std::vector<unsigned char> u{1, 2, 3};
  const auto* raw = u.data();
  blob from_uchar(std::move(u));
  CHECK(reinterpret_cast<const unsigned char*>(from_uchar.data()) == raw);

  CHECK(blob(std::string()).empty());
  CHECK(blob(std::vector<char>{}).use_count() == 0);
}

TEST_CASE("slices share storage and clamp to the blob") {
  auto whole = blob::copy_of(std::string_view("0123456789"));
  auto mid = whole.slice(3, 4);
  CHECK(mid.view() == "3456");
  CHECK(mid.shares_storage_with(whole));
  CHECK(whole.slice(8, 100).view() == "89");
  CHECK(whole.slice(20, 1).empty());
  whole = blob{};
  CHECK(mid.view() == "3456");  // the slice alone keeps the bytes alive
}

TEST_CASE("blob_buffer fills in place, then freezes without a copy") {
  larder::blob_buffer buffer(5);
  std::memcpy(buffer.data(), "hello", 5);
  const auto* at = buffer.data();
  blob frozen = std::move(buffer).freeze();
  CHECK(frozen.data() == at);
  CHECK(frozen.view() == "hello");
  CHECK(buffer.size() == 0);
}

TEST_CASE("blobs are copied and dropped from many threads at once") {
  auto shared = blob::copy_of(std::string_view("payload"));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([shared] {
      for (int i = 0; i < 20000; ++i) {
        blob copy = shared;
        blob again = copy.slice(1, 3);
        (void)again;
      }
    });
  for (auto& t : threads)
    t.join();
  CHECK(shared.use_count() == 1);
  CHECK(shared.view() == "payload");
}
