#include "vendor/digest.hpp"

#include <openssl/evp.h>

#include <map>

#include "util/error.hpp"

namespace pb::vendor {

const EVP_MD* Digest::find(const std::string& algorithm) {
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

Digest::Digest(const std::string& algorithm) : ctx_(EVP_MD_CTX_new()) {
  const EVP_MD* md = find(algorithm);
  if (!ctx_ || !md || EVP_DigestInit_ex(ctx_, md, nullptr) != 1) {
    EVP_MD_CTX_free(ctx_);
    throw Error("OpenSSL: cannot initialise " + algorithm, Exit::internal);
  }
}

Digest::~Digest() {
  EVP_MD_CTX_free(ctx_);
}

void Digest::update(const void* data, size_t size) {
  EVP_DigestUpdate(ctx_, data, size);
}

std::string Digest::finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Digest::hex() {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : finish()) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string Digest::base64url() {
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

}  // namespace pb::vendor
