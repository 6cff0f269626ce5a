#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace pb {

// Streaming SHA-256 (OpenSSL EVP).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  std::string hex();        // lowercase hex digest; finishes the hash
  std::string base64url();  // urlsafe base64 without padding, as in wheel RECORD files

 private:
  std::string finish();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);  // throws pb::Error (Exit::io)

}  // namespace pb
