// Which failures are worth another attempt, and how long to wait before it.
#pragma once
#include <optional>
#include <random>

namespace pb::fetch {

// HTTP statuses that may succeed later: 408, 429 and every 5xx. Never 404, 403 and the like.
bool retryable_status(long status);

// libcurl transport results that may succeed later (resets, timeouts, refused connections, ...).
bool retryable_curl_code(int code);

// Delay before attempt number `attempt + 1` (attempt ≥ 1 failed): base·2^(attempt-1), capped,
// with jitter in [½, 1]× so that many clients do not retry in step. A server's Retry-After
// (seconds) wins when given, capped the same way.
double retry_delay(int attempt, double base, double cap, std::optional<double> retry_after, std::mt19937_64& rng);

}  // namespace pb::fetch
