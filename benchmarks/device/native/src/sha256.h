// SHA-256 through OpenSSL's EVP interface, to check that the model file is the one its card describes.
#pragma once

#include <string>

namespace elir {

// Lower-case hex digest of `data`.
std::string sha256_hex(const std::string& data);
// Lower-case hex digest of a file's bytes; throws std::runtime_error when it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace elir
