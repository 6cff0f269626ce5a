#include <doctest/doctest.h>

#include <filesystem>

#include "fetch/ca_store.hpp"
#include "util/fs.hpp"

namespace stdfs = std::filesystem;
using pb::fetch::find_ca_store;

namespace {

// A temporary root laid out like a distribution's CA store.
struct Root {
  stdfs::path path = pb::fs::make_temp_dir(stdfs::temp_directory_path() / "x", "pb-ca-test-");
  ~Root() { stdfs::remove_all(path); }
  std::string file(const std::string& rel, const std::string& text = "-----BEGIN CERTIFICATE-----\n") {
    stdfs::create_directories((path / rel).parent_path());
    pb::fs::write_file_atomic(path / rel, text);
    return (path / rel).string();
  }
  // A relative symlink, as distributions make them (an absolute one would leave the root).
  std::string link(const std::string& rel, const std::string& target) {
    stdfs::create_directories((path / rel).parent_path());
    stdfs::create_symlink(target, path / rel);
    return (path / rel).string();
  }
  std::string dir(const std::string& rel) {
    stdfs::create_directories(path / rel);
    return (path / rel).string();
  }
};

}  // namespace

TEST_CASE("ca store: Debian and Ubuntu bundle, beside the hashed directory") {
  Root r;
  r.dir("etc/ssl/certs");
  auto bundle = r.file("etc/ssl/certs/ca-certificates.crt");
  auto s = find_ca_store("", "", r.path);
  CHECK(s.file == bundle);
  CHECK(s.dir == "");
}

TEST_CASE("ca store: Fedora and RHEL, the extracted bundle behind the tls symlink") {
  Root r;
  auto extracted = r.file("etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem");
  auto link = r.link("etc/pki/tls/certs/ca-bundle.crt", "../../ca-trust/extracted/pem/tls-ca-bundle.pem");
  CHECK(find_ca_store("", "", r.path).file == link);
  stdfs::remove(link);  // newer releases may keep only the extracted file
  CHECK(find_ca_store("", "", r.path).file == extracted);
}

TEST_CASE("ca store: Alpine with glibc, only /etc/ssl/cert.pem") {
  Root r;
  auto pem = r.file("etc/ssl/cert.pem");
  CHECK(find_ca_store("", "", r.path).file == pem);
}

TEST_CASE("ca store: openSUSE bundle") {
  Root r;
  auto pem = r.file("etc/ssl/ca-bundle.pem");
  CHECK(find_ca_store("", "", r.path).file == pem);
}

TEST_CASE("ca store: empty or dangling bundles are skipped; a directory is the last resort") {
  Root r;
  r.file("etc/ssl/certs/ca-certificates.crt", "");
  r.link("etc/pki/tls/certs/ca-bundle.crt", "../../ca-trust/missing.pem");
  auto s = find_ca_store("", "", r.path);
  CHECK(s.file == "");
  CHECK(s.dir == (r.path / "etc/ssl/certs").string());
  Root none;
  s = find_ca_store("", "", none.path);
  CHECK(s.file == "");
  CHECK(s.dir == "");
}

TEST_CASE("ca store: SSL_CERT_FILE and SSL_CERT_DIR win, taken as given") {
  Root r;
  auto bundle = r.file("etc/ssl/certs/ca-certificates.crt");
  auto s = find_ca_store("/my/ca.pem", "", r.path);
  CHECK(s.file == "/my/ca.pem");
  CHECK(s.dir == "");
  s = find_ca_store("", "/my/certs", r.path);  // the directory adds to the bundle, as in OpenSSL
  CHECK(s.file == bundle);
  CHECK(s.dir == "/my/certs");
  s = find_ca_store("/my/ca.pem", "/my/certs", r.path);
  CHECK(s.file == "/my/ca.pem");
  CHECK(s.dir == "/my/certs");
}
