#include "util/sha256.hpp"

#include <openssl/evp.h>

#include <cstdio>
#include <map>

#include "util/error.hpp"

namespace pb {

namespace {

const EVP_MD* find(const std::string& algorithm) {
  static const std::map<std::string, EVP_MD*> fetched = [] {
    static const std::map<std::string, const char*> names = {
        {"sha224", "SHA224"},       {"sha256", "SHA256"},      {"sha384", "SHA384"},     {"sha512", "SHA512"},
        {"sha3_224", "SHA3-224"},   {"sha3_256", "SHA3-256"},  {"sha3_384", "SHA3-384"}, {"sha3_512", "SHA3-512"},
        {"blake2b", "BLAKE2B-512"}, {"blake2s", "BLAKE2S-256"}};
    std::map<std::string, EVP_MD*> out;
    for (const auto& [name, openssl] : names)
      if (EVP_MD* md = EVP_MD_fetch(nullptr, openssl, nullptr)) out.emplace(name, md);
    return out;
  }();
  auto it = fetched.find(algorithm);
  return it == fetched.end() ? nullptr : it->second;
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
