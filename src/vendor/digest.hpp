// Hashes by hashlib name (RECORD rows) with OpenSSL; each algorithm is fetched once per
// process, not on every file.
#pragma once
#include <string>

struct evp_md_ctx_st;
struct evp_md_st;

namespace pb::vendor {

class Digest {
 public:
  explicit Digest(const std::string& algorithm);  // throws pb::Error (Exit::internal)
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(const void* data, size_t size);
  std::string hex();        // finishes the hash
  std::string base64url();  // urlsafe base64 without padding, as in RECORD; finishes the hash

  // nullptr for names we do not accept (md5, sha1, unknown).
  static const evp_md_st* find(const std::string& algorithm);

 private:
  std::string finish();
  evp_md_ctx_st* ctx_;
};

}  // namespace pb::vendor
