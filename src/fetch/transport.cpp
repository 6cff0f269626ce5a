#include "fetch/transport.hpp"

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "fetch/ca_store.hpp"
#include "util/error.hpp"

namespace pb::fetch::detail {

Transport::Transport(const Options& options) : connect_timeout_(std::max(1, options.connect_timeout)) {
  // Always named explicitly: the static release build's libcurl only knows its build machine's paths.
  if (options.ca_file.empty()) {
    auto store = system_ca_store();
    ca_file_ = store.file;
    ca_dir_ = store.dir;
  } else {
    ca_file_ = options.ca_file.string();
    if (const char* env = std::getenv("SSL_CERT_DIR"); env && *env) ca_dir_ = env;
  }
  netrc_file_ = options.netrc_file.string();
  if (netrc_file_.empty())
    if (const char* env = std::getenv("NETRC"); env && *env) netrc_file_ = env;
}

void Transport::apply(CURL* e) const {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_USERAGENT, "pybundle/" PYBUNDLE_VERSION);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, connect_timeout_);
  curl_easy_setopt(e, CURLOPT_NETRC, static_cast<long>(CURL_NETRC_OPTIONAL));
  if (!netrc_file_.empty()) curl_easy_setopt(e, CURLOPT_NETRC_FILE, netrc_file_.c_str());
  if (!ca_file_.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca_file_.c_str());
  if (!ca_dir_.empty()) curl_easy_setopt(e, CURLOPT_CAPATH, ca_dir_.c_str());
}

void init_curl() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw Error("libcurl: cannot initialise", Exit::internal);
  });
}

}  // namespace pb::fetch::detail
