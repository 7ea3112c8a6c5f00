// What compile_cache stores for a compile and how it writes it back: the value's layout,
// and files replaced atomically beside their target.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace compile_cache {

/// One cached compile: the compiler's stderr, the dependency file (empty without -MD),
/// the object. Views into the value they were decoded from.
struct artifacts {
  std::string_view err, deps, object;
};

/// The value: stderr and the dependency file each after an 8-byte little-endian length,
/// then the object.
std::string encode(const std::string& err, const std::string& deps, const std::string& object);
/// False for a value too short for its lengths (a foreign or torn entry: a miss).
bool decode(std::string_view value, artifacts& a);

/// The whole file, or nothing if it cannot be read.
std::optional<std::string> read_whole(const std::string& path);
/// Written next to `path`, then renamed over it: a reader (make, the linker) never sees
/// half a file. False (and no temp left behind) on any failure.
bool write_atomically(const std::string& path, std::string_view bytes);

}  // namespace compile_cache
