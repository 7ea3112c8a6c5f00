#include "tools/server/sha256.hpp"

#if LARDER_SERVER_SHA256
#include <openssl/evp.h>
#endif

namespace larder::server {

std::string sha256_hex(std::string_view bytes) {
#if LARDER_SERVER_SHA256
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned i = 0; i < length; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
#else
  (void)bytes;
  return {};
#endif
}

}  // namespace larder::server
