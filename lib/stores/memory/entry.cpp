#include "stores/memory/entry.hpp"

#include <cstdlib>

namespace larder::detail::mem {

entry* entry::create(std::string_view key, const blob& value, bool inline_value, bool ttl) {
  const std::size_t key_bytes = key.size();
  std::size_t value_offset = key_bytes;
  if (!inline_value) {
    value_offset = (sizeof(entry) + key_bytes + alignof(blob) - 1) / alignof(blob) * alignof(blob) -
                   sizeof(entry);
  }
  const std::size_t value_bytes = inline_value ? value.size() : sizeof(blob);
  const std::size_t total = sizeof(entry) + value_offset + value_bytes + (ttl ? 8 : 0);

  void* memory = ::operator new(total);
  auto* e = new (memory) entry;
  e->destroy = &entry::destroy_entry;
  const auto key_size16 = static_cast<std::uint16_t>(key_bytes);
  std::memcpy(e->word(), &key_size16, sizeof key_size16);
  if (!inline_value) e->set_flag(flag_external);
  if (ttl) e->set_flag(flag_ttl);
  e->value_size = static_cast<std::uint32_t>(value.size());
  if (key_bytes) std::memcpy(reinterpret_cast<char*>(e + 1), key.data(), key_bytes);
  if (inline_value) {
    if (!value.empty()) std::memcpy(e->value_area(), value.data(), value.size());
  } else {
    new (e->value_area()) blob(value);
  }
  return e;
}

void entry::destroy_entry(blob_rep* rep) noexcept {
  auto* e = static_cast<entry*>(rep);
  if (e->has(flag_external)) e->external()->~blob();
  e->~entry();
  ::operator delete(static_cast<void*>(e));
}

}  // namespace larder::detail::mem
