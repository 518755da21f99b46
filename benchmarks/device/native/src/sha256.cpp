#include "sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

namespace elir {

namespace {

using Context = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

Context start() {
  Context ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL cannot start a SHA-256 digest");
  return ctx;
}

void update(const Context& ctx, const void* data, size_t n) {
  if (EVP_DigestUpdate(ctx.get(), data, n) != 1) throw std::runtime_error("OpenSSL SHA-256 update failed");
}

std::string finish(const Context& ctx) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest, &n) != 1) throw std::runtime_error("OpenSSL SHA-256 final failed");
  std::string hex(2 * n, '0');
  for (unsigned int i = 0; i < n; ++i) std::snprintf(&hex[2 * i], 3, "%02x", digest[i]);
  return hex;
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  const Context ctx = start();
  update(ctx, data.data(), data.size());
  return finish(ctx);
}

std::string sha256_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  const Context ctx = start();
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    update(ctx, buf.data(), static_cast<size_t>(f.gcount()));
  }
  if (f.bad()) throw std::runtime_error("cannot read " + path);
  return finish(ctx);
}

}  // namespace elir
