// The one hash wrapper (OpenSSL EVP): SHA-256 for files and bundles, and the other hashlib names a
// wheel's RECORD may use. Each algorithm is fetched once per process, not on every file.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace pb {

class Hash {
 public:
  // A hashlib name ("sha256", "sha512", "sha3_256", "blake2b", ...); throws pb::Error
  // (Exit::internal) for one that supports() refuses.
  explicit Hash(const std::string& algorithm = "sha256");
  ~Hash();
  Hash(const Hash&) = delete;
  Hash& operator=(const Hash&) = delete;
  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  std::string hex();        // lowercase hex digest; finishes the hash
  std::string base64url();  // urlsafe base64 without padding, as in wheel RECORD files; finishes the hash

  // False for names we do not accept (md5, sha1, unknown).
  static bool supports(const std::string& algorithm);

 private:
  std::string finish();
  evp_md_ctx_st* ctx_;
};

std::string sha256_hex(std::string_view data);
std::string sha256_file(const std::filesystem::path& path);  // throws pb::Error (Exit::io)

}  // namespace pb
