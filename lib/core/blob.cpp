#include "larder/blob.hpp"

#include <new>

namespace larder::detail {

static_assert(sizeof(blob_rep) == 16, "the header in front of inline bytes must stay 16 bytes");

blob_rep* blob_allocate(std::size_t size) {
  void* memory = ::operator new(sizeof(blob_rep) + size);
  auto* rep = new (memory) blob_rep;
  rep->destroy = [](blob_rep* self) noexcept {
    self->~blob_rep();
    ::operator delete(self);
  };
  return rep;
}

}  // namespace larder::detail
