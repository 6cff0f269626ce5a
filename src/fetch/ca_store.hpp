// Where the machine keeps its trusted CA certificates. A libcurl/OpenSSL linked into a relocatable
// binary carries the paths of the machine it was built on; this looks on the one it runs on.
#pragma once
#include <filesystem>
#include <string>

namespace pb::fetch {

struct CaStore {
  std::string file;  // PEM bundle (CURLOPT_CAINFO); empty: none found
  std::string dir;   // hashed certificate directory (CURLOPT_CAPATH); empty: none
};

// As OpenSSL does: $SSL_CERT_FILE (cert_file_env) names the bundle and $SSL_CERT_DIR the
// directory, each taken as given. Without SSL_CERT_FILE, the first bundle that exists among the
// usual places below `root` (Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, Alpine's cert.pem);
// without SSL_CERT_DIR and no bundle found, the first usual certificate directory that exists.
CaStore find_ca_store(const std::string& cert_file_env, const std::string& cert_dir_env,
                      const std::filesystem::path& root = "/");

// find_ca_store with this process's SSL_CERT_FILE and SSL_CERT_DIR.
CaStore system_ca_store();

}  // namespace pb::fetch
