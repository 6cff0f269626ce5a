#include "fetch/ca_store.hpp"

#include <cstdlib>

namespace pb::fetch {

namespace {

// The bundle files and directories distributions install (the same list as Go's crypto/x509).
constexpr const char* kBundles[] = {
    "etc/ssl/certs/ca-certificates.crt",                 // Debian, Ubuntu, Gentoo, Arch, Alpine
    "etc/pki/tls/certs/ca-bundle.crt",                   // Fedora, RHEL 6
    "etc/ssl/ca-bundle.pem",                             // openSUSE
    "etc/pki/tls/cacert.pem",                            // OpenELEC
    "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",  // CentOS, RHEL 7+, Fedora
    "etc/ssl/cert.pem",                                  // Alpine (ca-certificates-bundle)
};
constexpr const char* kDirs[] = {"etc/ssl/certs", "etc/pki/tls/certs"};

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

CaStore find_ca_store(const std::string& cert_file_env, const std::string& cert_dir_env,
                      const std::filesystem::path& root) {
  CaStore store{cert_file_env, cert_dir_env};
  std::error_code ec;
  if (store.file.empty())
    for (const char* rel : kBundles)
      if (auto p = root / rel; std::filesystem::is_regular_file(p, ec) && std::filesystem::file_size(p, ec) > 0) {
        store.file = p.string();
        break;
      }
  if (store.file.empty() && store.dir.empty())
    for (const char* rel : kDirs)
      if (auto p = root / rel; std::filesystem::is_directory(p, ec)) {
        store.dir = p.string();
        break;
      }
  return store;
}

CaStore system_ca_store() {
  return find_ca_store(env_or_empty("SSL_CERT_FILE"), env_or_empty("SSL_CERT_DIR"));
}

}  // namespace pb::fetch
