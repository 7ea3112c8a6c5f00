#include "stores/memory/entry.hpp"

#include <cstdlib>

namespace larder::detail::mem {

entry* entry::create(std::string_view key, const blob& value, bool inline_value,
                     entry_extras extras) {
  const std::size_t key_bytes = key.size();
  std::size_t value_offset = key_bytes;
  if (!inline_value) {
    value_offset = (sizeof(entry) + key_bytes + alignof(blob) - 1) / alignof(blob) * alignof(blob) -
                   sizeof(entry);
  }
  const std::size_t value_bytes = inline_value ? value.size() : sizeof(blob);
  const std::size_t extra_count =
      (extras.ttl ? 1 : 0) + (extras.idle ? 1 : 0) + (extras.weighed ? 1 : 0);
  const std::size_t value_end = sizeof(entry) + value_offset + value_bytes;
  const std::size_t total = extra_count ? extras_offset(value_end) + 8 * extra_count : value_end;

  void* memory = ::operator new(total);
  auto* e = new (memory) entry;
  e->destroy = &entry::destroy_entry;
  const auto key_size16 = static_cast<std::uint16_t>(key_bytes);
  std::memcpy(e->word(), &key_size16, sizeof key_size16);
  if (!inline_value) e->set_flag(flag_external);
  if (extras.ttl) e->set_flag(flag_ttl);
  if (extras.idle) e->set_flag(flag_idle);
  if (extras.weighed) e->set_flag(flag_weighed);
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
