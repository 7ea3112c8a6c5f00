// sha256: the SHA-256 of a CAS upload, through OpenSSL's libcrypto when the build has it.
#pragma once

#include <string>
#include <string_view>

namespace larder::server {

/// Lower-case hex SHA-256 of `bytes`; empty when the build has no OpenSSL.
std::string sha256_hex(std::string_view bytes);

}  // namespace larder::server
