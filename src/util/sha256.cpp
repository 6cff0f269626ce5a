#include "util/sha256.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <map>

#include "util/error.hpp"

namespace pb {

namespace {

// OpenSSL's built-in digests: static objects, nothing to free (a fetched EVP_MD would be a
// reference held until exit, which leak checkers report).
const EVP_MD* find(const std::string& algorithm) {
  static const std::map<std::string, const EVP_MD* (*)()> digests = {
      {"sha224", EVP_sha224},      {"sha256", EVP_sha256},     {"sha384", EVP_sha384},     {"sha512", EVP_sha512},
      {"sha3_224", EVP_sha3_224},  {"sha3_256", EVP_sha3_256}, {"sha3_384", EVP_sha3_384}, {"sha3_512", EVP_sha3_512},
      {"blake2b", EVP_blake2b512}, {"blake2s", EVP_blake2s256}};
  auto it = digests.find(algorithm);
  return it == digests.end() ? nullptr : it->second();
}

}  // namespace

bool Hash::supports(const std::string& algorithm) {
  return find(algorithm) != nullptr;
}

Hash::Hash(const std::string& algorithm) : ctx_(EVP_MD_CTX_new()) {
  const EVP_MD* md = find(algorithm);
  if (!ctx_ || !md || EVP_DigestInit_ex(ctx_, md, nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw Error("OpenSSL: cannot initialise " + algorithm, Exit::internal);
  }
}

Hash::~Hash() {
  EVP_MD_CTX_free(ctx_);
}

void Hash::update(const void* data, size_t size) {
  EVP_DigestUpdate(ctx_, data, size);
}

std::string Hash::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Hash::hex() {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : finish()) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string Hash::base64url() {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : finish()) {
    acc = acc << 8 | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}

std::string sha256_hex(std::string_view data) {
  Hash h;
  h.update(data);
  return h.hex();
}

std::string sha256_file(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Error("cannot read " + path.string(), Exit::io);
  Hash h;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) h.update(buf, n);
  bool bad = std::ferror(f);
  std::fclose(f);
  if (bad) throw Error("cannot read " + path.string(), Exit::io);
  return h.hex();
}

}  // namespace pb
