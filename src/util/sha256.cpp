#include "util/sha256.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <stdexcept>

#include "util/error.hpp"

namespace pb {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
    throw Error("OpenSSL: cannot initialise SHA-256", Exit::internal);
}
Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size) {
  EVP_DigestUpdate(impl_->ctx, data, size);
}

std::string Sha256::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Sha256::hex() {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : finish()) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string Sha256::base64url() {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string raw = finish(), out;
  size_t i = 0;
  for (; i + 2 < raw.size(); i += 3) {
    unsigned v = (unsigned char)raw[i] << 16 | (unsigned char)raw[i + 1] << 8 | (unsigned char)raw[i + 2];
    for (int s = 18; s >= 0; s -= 6) out += alphabet[(v >> s) & 63];
  }
  if (size_t rest = raw.size() - i; rest > 0) {
    unsigned v = (unsigned char)raw[i] << 16 | (rest > 1 ? (unsigned char)raw[i + 1] << 8 : 0);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (rest > 1) out += alphabet[(v >> 6) & 63];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot read " + path.string(), Exit::io);
  Sha256 h;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) h.update(buf, n);
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) throw Error("cannot read " + path.string(), Exit::io);
  return h.hex();
}

}  // namespace pb
