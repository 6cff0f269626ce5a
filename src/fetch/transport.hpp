// The settings every libcurl transfer of the fetch stage shares: CA store, netrc, protocols,
// redirects, user agent, connect timeout. fetch_all's engine and fetch::get both apply them.
#pragma once
#include <curl/curl.h>

#include <string>

#include "fetch/fetch.hpp"

namespace pb::fetch::detail {

class Transport {
 public:
  explicit Transport(const Options& options);
  void apply(CURL* easy) const;

 private:
  std::string ca_file_, ca_dir_, netrc_file_;
  long connect_timeout_;
};

// curl_global_init, once per process.
void init_curl();

}  // namespace pb::fetch::detail
