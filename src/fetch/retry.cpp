#include "fetch/retry.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cmath>

namespace pb::fetch {

bool retryable_status(long status) {
  return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

bool retryable_curl_code(int code) {
  switch (static_cast<CURLcode>(code)) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR: return true;
    default: return false;
  }
}

double retry_delay(int attempt, double base, double cap, std::optional<double> retry_after, std::mt19937_64& rng) {
  if (retry_after) return std::clamp(*retry_after, 0.0, cap);
  double full = std::min(cap, base * std::pow(2.0, std::max(0, attempt - 1)));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return full * jitter(rng);
}

}  // namespace pb::fetch
