#include "fetch/engine.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include <fmt/format.h>

#include "fetch/committer.hpp"
#include "fetch/retry.hpp"
#include "fetch/transport.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace pb::fetch::detail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kLockPoll = std::chrono::milliseconds(50);
constexpr size_t kMaxErrorBody = 64 * 1024;
// Connections to one host start few and grow by one per transfer that finished on a reused
// connection. A server that closes every connection (HTTP/1.0, like Python's http.server with its
// listen queue of 5) stays at this many: each transfer is a new SYN, and a burst of them
// overflows a short queue, each dropped SYN costing a 1 s retransmit.
constexpr int kFirstHostConnections = 4;

// "http://h:1/x" -> "http://h:1": what one connection pool serves.
std::string host_key(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  return url.substr(0, url.find('/', scheme + 3));
}

std::string errno_text() {
  return std::strerror(errno);
}

class Engine;

struct Job {
  Engine* engine = nullptr;
  Item* item = nullptr;
  EntryLock lock;       // holds the open .part file the download goes into
  uint64_t offset = 0;  // bytes in the partial file (all hashed)
  std::unique_ptr<Hash> hash;
  bool spliced = false;    // the partial holds bytes from an earlier attempt or run
  bool restarted = false;  // already re-downloaded from scratch after a spliced mismatch
  bool no_range = false;   // the server mishandled a Range request
  int attempts = 0;
  Clock::time_point ready_at{};
  bool reported_waiting = false;

  // Per attempt.
  CURL* easy = nullptr;
  long status = 0;
  std::string status_line;
  std::optional<uint64_t> range_start;
  std::string encoding;               // Content-Encoding of the response, as sent
  std::optional<uint64_t> announced;  // its Content-Length
  uint64_t received = 0;              // body bytes kept from it
  bool began = false, discard = false;
  size_t discarded = 0;
  std::string abort_cause;  // set when a callback aborted the transfer
  bool abort_problem = false, abort_retry = false;
  char errbuf[CURL_ERROR_SIZE] = {};
  Clock::time_point last_activity{};  // for stall detection
  std::string short_stall;            // the last attempt that stalled short of its Content-Length
  std::string host;                   // host_key of the URL; counted in Engine::hosts_ while running
};

class Engine {
 public:
  Engine(const Cache& cache, const Options& options, Progress& progress)
      : cache_(cache), options_(options), progress_(progress), transport_(options), rng_(std::random_device{}()) {
    multi_ = curl_multi_init();
    if (!multi_) throw Error("libcurl: cannot create a transfer handle", Exit::internal);
    curl_multi_setopt(multi_, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    committer_ = std::make_unique<Committer>([this] { curl_multi_wakeup(multi_); });
    // The lock's sha256 and size, and Range offsets, are of the file's own bytes: never a
    // compressed form of it.
    headers_ = curl_slist_append(nullptr, "Accept-Encoding: identity");
    if (!headers_) throw Error("libcurl: cannot create a header list", Exit::internal);
  }
  ~Engine() {
    committer_.reset();  // its workers finish (and stop waking the multi handle) first
    for (auto& j : jobs_)
      if (j->easy) {
        curl_multi_remove_handle(multi_, j->easy);
        curl_easy_cleanup(j->easy);
      }
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
  }
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void run(std::vector<Item*>& items);

 private:
  bool take(Job& j);
  void next_attempt(Job& j);
  void open_partial(Job& j);
  void copy_local(Job& j);
  void start_attempt(Job& j);
  void on_done(Job& j, CURLcode result);
  void finish_file(Job& j);
  void retry_later(Job& j, const std::string& cause, std::optional<double> retry_after = std::nullopt);
  void fail(Job& j, const std::string& cause, bool problem);
  void succeed(Job& j);
  void collect_commits();
  void restart_partial(Job& j);
  bool begin_response(Job& j);
  size_t write_body(Job& j, const char* data, size_t len);

  void on_stall(Job& j);

  static size_t on_write(char* data, size_t size, size_t n, void* user);
  static size_t on_header(char* data, size_t size, size_t n, void* user);

  const Cache& cache_;
  const Options& options_;
  Progress& progress_;
  Transport transport_;
  std::mt19937_64 rng_;
  CURLM* multi_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::vector<std::unique_ptr<Job>> jobs_;
  std::vector<Job*> delayed_;  // hold their lock; start when ready_at has passed
  int active_ = 0;
  struct Host {
    int active = 0, limit = kFirstHostConnections;
  };
  std::map<std::string, Host> hosts_;
  bool host_has_room(const Job& j) {
    if (j.item->source.kind != Source::Kind::remote) return true;
    auto it = hosts_.find(host_key(j.item->source.url));
    return it == hosts_.end() || it->second.active < it->second.limit;
  }
  int committing_ = 0;
  std::unique_ptr<Committer> committer_;
};

// Takes the entry's lock; then the entry is either there already (another process fetched it),
// copied from a local file, or a transfer starts. False when another process holds the lock.
bool Engine::take(Job& j) {
  auto cached = [&] {
    cache_.touch(j.item->sha256);
    j.item->done = j.item->cached = true;
    progress_.file_done(true);
    progress_.emit({.kind = Event::Kind::cached, .label = j.item->label});
    return true;
  };
  if (cache_.has(j.item->sha256)) return cached();
  auto lock = cache_.try_lock(j.item->sha256);
  if (!lock) return false;
  j.lock = std::move(*lock);
  if (cache_.has(j.item->sha256)) {  // renamed into place just before we opened the .part
    ::unlink(cache_.partial(j.item->sha256).c_str());
    j.lock.release();
    return cached();
  }
  if (j.item->source.kind == Source::Kind::local) {
    copy_local(j);
    return true;
  }
  open_partial(j);
  if (j.lock.held()) next_attempt(j);
  return true;
}

void Engine::next_attempt(Job& j) {
  // All the bytes may be here already (a cut-off response that had sent everything, or an
  // interrupted run): verify them instead of asking the server for an empty range.
  if (j.item->size && j.offset >= *j.item->size) return finish_file(j);
  start_attempt(j);
}

// Reopens what an interrupted run left behind, so the transfer can resume with a Range request.
void Engine::open_partial(Job& j) {
  j.hash = std::make_unique<Hash>();
  j.offset = 0;
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(j.lock.fd(), buf, sizeof buf)) > 0) {
    j.hash->update(buf, static_cast<size_t>(n));
    j.offset += static_cast<uint64_t>(n);
  }
  progress_.add_bytes(static_cast<int64_t>(j.offset));
  if (n < 0 || (j.item->size && j.offset > *j.item->size)) restart_partial(j);
  if (!j.abort_cause.empty()) return fail(j, j.abort_cause, false);
  j.spliced = j.offset > 0;
}

void Engine::restart_partial(Job& j) {
  progress_.add_bytes(-static_cast<int64_t>(j.offset));
  if (::ftruncate(j.lock.fd(), 0) != 0 || ::lseek(j.lock.fd(), 0, SEEK_SET) != 0) {
    j.abort_cause = "cannot truncate " + cache_.partial(j.item->sha256).string() + ": " + errno_text();
    return;
  }
  j.hash = std::make_unique<Hash>();
  j.offset = 0;
  j.spliced = false;
}

// A local wheel enters the cache only once it is known to be a wheel with the expected hash: the
// source is read twice (verify, then copy), and the copy is verified again by finish_file.
void Engine::copy_local(Job& j) {
  const auto& src = j.item->source.path;
  int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (in < 0) return fail(j, "cannot read " + src.string() + ": " + errno_text(), true);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{in};
  struct stat st;
  if (::fstat(in, &st) != 0) return fail(j, "cannot read " + src.string() + ": " + errno_text(), true);
  if (S_ISDIR(st.st_mode)) return fail(j, src.string() + " is a directory, not a file", true);
  if (!S_ISREG(st.st_mode)) return fail(j, src.string() + " is not a regular file", true);
  std::vector<char> buf(1 << 18);
  // One pass: hash (and for the first pass, check the zip signature) or copy.
  auto pass = [&](bool copy, Hash& hash) -> std::optional<std::string> {
    if (::lseek(in, 0, SEEK_SET) != 0) return "cannot read " + src.string() + ": " + errno_text();
    uint64_t at = 0;
    for (ssize_t n; (n = ::read(in, buf.data(), buf.size())) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return "cannot read " + src.string() + ": " + errno_text();
      if (at == 0 && (n < 4 || std::memcmp(buf.data(), "PK\x03\x04", 4) != 0))
        return src.string() + " is not a wheel (not a zip archive); nothing was copied into the cache";
      if (copy && !fs::write_all(j.lock.fd(), buf.data(), static_cast<size_t>(n)))
        return "cannot write " + cache_.partial(j.item->sha256).string() + ": " + errno_text();
      hash.update(buf.data(), static_cast<size_t>(n));
      at += static_cast<uint64_t>(n);
      if (copy) {
        j.offset = at;
        progress_.add_bytes(n);
      }
    }
    if (at == 0) return src.string() + " is not a wheel (empty file); nothing was copied into the cache";
    return std::nullopt;
  };
  Hash first;
  if (auto why = pass(false, first)) return fail(j, *why, true);
  if (auto got = first.hex(); got != j.item->sha256)
    return fail(j,
                "sha256 mismatch: expected " + j.item->sha256 + ", got " + got + "; nothing was copied into the cache",
                true);
  if (::ftruncate(j.lock.fd(), 0) != 0)
    return fail(j, "cannot truncate " + cache_.partial(j.item->sha256).string() + ": " + errno_text(), false);
  // Never more open than the source (the .part was created 0644 less the umask).
  struct stat part;
  if (::fstat(j.lock.fd(), &part) == 0) ::fchmod(j.lock.fd(), part.st_mode & st.st_mode & 0666);
  j.hash = std::make_unique<Hash>();
  j.offset = 0;
  if (auto why = pass(true, *j.hash)) return fail(j, *why, true);
  finish_file(j);
}

void Engine::start_attempt(Job& j) {
  ++j.attempts;
  j.status = 0;
  j.status_line.clear();
  j.range_start.reset();
  j.encoding.clear();
  j.announced.reset();
  j.received = 0;
  j.began = j.discard = false;
  j.discarded = 0;
  j.abort_cause.clear();
  j.abort_problem = j.abort_retry = false;
  j.errbuf[0] = 0;
  j.last_activity = Clock::now();

  CURL* e = curl_easy_init();
  if (!e) return fail(j, "libcurl: cannot create a transfer", false);
  j.easy = e;
  curl_easy_setopt(e, CURLOPT_URL, j.item->source.url.c_str());
  curl_easy_setopt(e, CURLOPT_PRIVATE, &j);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Engine::on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &j);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Engine::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &j);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j.errbuf);
  transport_.apply(e);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  // Over TLS, wait to learn whether the first connection multiplexes (HTTP/2) before opening more.
  if (::strncasecmp(j.item->source.url.c_str(), "https://", 8) == 0) curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  std::string range;
  if (j.offset > 0 && !j.no_range) {
    range = std::to_string(j.offset) + "-";
    curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());  // copied by libcurl
  }
  if (curl_multi_add_handle(multi_, e) != CURLM_OK) {
    curl_easy_cleanup(e);
    j.easy = nullptr;
    return fail(j, "libcurl: cannot start a transfer", false);
  }
  ++active_;
  j.host = host_key(j.item->source.url);
  ++hosts_[j.host].active;
}

size_t Engine::on_header(char* data, size_t size, size_t n, void* user) {
  auto& j = *static_cast<Job*>(user);
  j.last_activity = Clock::now();
  std::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.substr(0, 5) == "HTTP/") {  // a new response (after a redirect or 100-continue)
    j.status_line = line;
    j.range_start.reset();
    j.encoding.clear();
    return size * n;
  }
  auto header = [&](std::string_view name) -> std::optional<std::string_view> {
    if (line.size() < name.size() ||
        !std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) { return a == std::tolower(b); }))
      return std::nullopt;
    auto value = line.substr(name.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    return value;
  };
  if (auto value = header("content-encoding:")) {
    j.encoding += (j.encoding.empty() ? "" : ", ") + std::string(*value);
    return size * n;
  }
  if (auto range = header("content-range:")) {
    auto value = *range;
    auto bytes = value.find("bytes");
    if (bytes != std::string_view::npos) {
      auto digits = value.substr(bytes + 5);
      while (!digits.empty() && digits.front() == ' ') digits.remove_prefix(1);
      uint64_t start = 0;
      size_t i = 0;
      for (; i < digits.size() && digits[i] >= '0' && digits[i] <= '9'; ++i) start = start * 10 + (digits[i] - '0');
      if (i > 0) j.range_start = start;
    }
  }
  return size * n;
}

// The first body bytes (or the end of a bodiless response): decide what to do with the body.
bool Engine::begin_response(Job& j) {
  j.began = true;
  curl_easy_getinfo(j.easy, CURLINFO_RESPONSE_CODE, &j.status);
  if (j.status != 200 && j.status != 206) {
    j.discard = true;  // an error page
    return true;
  }
  curl_off_t length = -1;
  curl_easy_getinfo(j.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  if (length >= 0) j.announced = static_cast<uint64_t>(length);
  // Neither goes away by asking again: fail at once.
  if (!j.encoding.empty() && ::strcasecmp(j.encoding.c_str(), "identity") != 0) {
    j.abort_cause = "the server sent the file encoded (Content-Encoding: " + j.encoding +
                    ") though the request asked for identity; the lock's sha256 is of the file itself, so nothing "
                    "was kept (serve wheels without compression)";
    j.abort_problem = true;
    return false;
  }
  const std::optional<uint64_t> from = j.status == 200 ? std::optional<uint64_t>(0) : j.range_start;
  if (j.item->size && j.announced && from && *from <= *j.item->size && *j.announced != *j.item->size - *from) {
    j.abort_cause = *from == 0 ? fmt::format(
                                     "the server announced {} bytes (Content-Length) but the lock gives the "
                                     "file's size as {} bytes",
                                     *j.announced, *j.item->size)
                               : fmt::format(
                                     "the server announced {} bytes from byte {} (Content-Length) but the lock "
                                     "gives the file's size as {} bytes, which leaves {}",
                                     *j.announced, *from, *j.item->size, *j.item->size - *from);
    j.abort_problem = true;
    return false;
  }
  if (j.status == 206) {
    if (j.range_start == j.offset) {
      if (j.offset > 0) j.spliced = true;
      return true;
    }
    if (j.range_start == 0u) {
      restart_partial(j);
      return j.abort_cause.empty();
    }
    j.no_range = true;
    j.abort_cause = "the server answered a range request with the wrong bytes";
    j.abort_retry = true;
    return false;
  }
  if (j.offset > 0) restart_partial(j);  // 200: the server ignored Range, start over
  return j.abort_cause.empty();
}

size_t Engine::on_write(char* data, size_t size, size_t n, void* user) {
  auto& j = *static_cast<Job*>(user);
  return j.engine->write_body(j, data, size * n);
}

// Streams the body to the partial file and the hash; never holds a whole file in memory.
size_t Engine::write_body(Job& j, const char* data, size_t len) {
  j.last_activity = Clock::now();
  if (!j.began && !begin_response(j)) return 0;
  if (j.discard) {
    j.discarded += len;
    return j.discarded > kMaxErrorBody ? 0 : len;
  }
  if (j.item->size && j.offset + len > *j.item->size) {
    j.abort_cause = "the server sent more than the expected " + std::to_string(*j.item->size) + " bytes";
    j.abort_problem = true;
    return 0;
  }
  // A lock entry without a size: stop at the first byte past the cap, not when the disk is full.
  if (!j.item->size && j.offset + len > options_.max_download) {
    j.abort_cause = "the server sent more than " + std::to_string(options_.max_download) +
                    " bytes and the lock gives no size (raise the cap with --max-download)";
    j.abort_problem = true;
    return 0;
  }
  if (!fs::write_all(j.lock.fd(), data, len)) {
    j.abort_cause = "cannot write " + cache_.partial(j.item->sha256).string() + ": " + errno_text();
    return 0;
  }
  j.hash->update(data, len);
  j.offset += len;
  j.received += len;
  progress_.add_bytes(static_cast<int64_t>(len));
  return len;
}

std::string describe(CURLcode code, const char* errbuf) {
  return errbuf && *errbuf ? errbuf : curl_easy_strerror(code);
}

// "HTTP/1.1 404 Not Found" → "HTTP 404 Not Found"
std::string http_cause(const Job& j) {
  if (j.status_line.substr(0, 5) != "HTTP/") return "HTTP " + std::to_string(j.status);
  auto sp = j.status_line.find(' ');
  return "HTTP" + (sp == std::string::npos ? " " + std::to_string(j.status) : j.status_line.substr(sp));
}

void Engine::on_done(Job& j, CURLcode result) {
  curl_off_t retry_after = 0;
  curl_easy_getinfo(j.easy, CURLINFO_RETRY_AFTER, &retry_after);
  long new_connections = 1;
  curl_easy_getinfo(j.easy, CURLINFO_NUM_CONNECTS, &new_connections);
  if (result == CURLE_OK && !j.began && j.abort_cause.empty()) begin_response(j);
  if (!j.began) curl_easy_getinfo(j.easy, CURLINFO_RESPONSE_CODE, &j.status);
  curl_multi_remove_handle(multi_, j.easy);
  curl_easy_cleanup(j.easy);
  j.easy = nullptr;
  --active_;
  auto& host = hosts_[j.host];
  --host.active;
  if (result == CURLE_OK && new_connections == 0)
    host.limit = std::min(host.limit + 1, std::max(1, options_.concurrency));

  if (!j.abort_cause.empty()) {
    if (j.abort_problem) return fail(j, j.abort_cause, true);
    if (j.abort_retry) return retry_later(j, j.abort_cause);
    return fail(j, j.abort_cause, false);
  }
  std::optional<double> wait;
  if (retry_after > 0) wait = static_cast<double>(retry_after);
  if (j.discard) {  // an error status; the body may or may not have arrived in full
    std::string cause = http_cause(j);
    if (result != CURLE_OK && result != CURLE_WRITE_ERROR) cause += " (" + describe(result, j.errbuf) + ")";
    if (j.status == 416 && j.offset > 0) {  // our partial does not fit the server's file
      restart_partial(j);
      return retry_later(j, cause);
    }
    if (retryable_status(j.status)) return retry_later(j, cause, wait);
    return fail(j, cause, true);
  }
  if (result != CURLE_OK) {
    std::string cause = describe(result, j.errbuf);
    if (retryable_curl_code(result)) return retry_later(j, cause);
    return fail(j, cause, false);
  }
  if (j.status == 200 || j.status == 206) return finish_file(j);
  // 1xx/3xx as a final answer (e.g. a redirect without Location).
  fail(j, http_cause(j), true);
}

// No byte for the stall timeout: the transfer is cut off and retried (resuming). A body that stops
// short of its Content-Length says so; stopping at the same byte twice means the length is wrong.
void Engine::on_stall(Job& j) {
  auto quiet = fmt::format("nothing for {:g} s", options_.stall_timeout);
  j.abort_retry = true;
  if (j.began && !j.discard && j.announced && j.received < *j.announced) {
    std::string from =
        j.status == 206 && j.range_start.value_or(0) > 0 ? fmt::format(" from byte {}", *j.range_start) : "";
    auto what =
        fmt::format("the server announced {} bytes{} (Content-Length) and sent {}", *j.announced, from, j.received);
    j.abort_problem = what == j.short_stall;
    j.abort_cause = what + ", then " + quiet + (j.abort_problem ? ", twice in a row: its Content-Length is wrong" : "");
    j.short_stall = std::move(what);
  } else {
    j.abort_cause = fmt::format("stalled: no data for {:g} s", options_.stall_timeout);
  }
  on_done(j, CURLE_OPERATION_TIMEDOUT);
}

void Engine::finish_file(Job& j) {
  if (j.item->size && j.offset < *j.item->size && j.item->source.kind == Source::Kind::remote)
    return retry_later(j, "the connection closed after " + std::to_string(j.offset) + " of " +
                              std::to_string(*j.item->size) + " bytes");
  std::string got = j.hash->hex();
  if (got != j.item->sha256) {
    bool again = j.spliced && !j.restarted && j.item->source.kind == Source::Kind::remote;
    if (again) {
      // The bytes came from more than one response; the server may have changed the file in
      // between. One clean download decides.
      j.restarted = true;
      restart_partial(j);
      if (!j.abort_cause.empty()) return fail(j, j.abort_cause, false);
      j.ready_at = Clock::now();
      delayed_.push_back(&j);
      return;
    }
    std::string cause = "sha256 mismatch: expected " + j.item->sha256 + ", got " + got;
    if (j.item->size && j.offset != *j.item->size)
      cause += " (" + std::to_string(j.offset) + " bytes, expected " + std::to_string(*j.item->size) + ")";
    return fail(j, cause + "; the file was not kept", true);
  }
  // The committer closes the file after the rename, so other processes see the entry in place
  // by the time they get the lock.
  committer_->submit({j.lock.detach(), cache_.partial(j.item->sha256), cache_.entry(j.item->sha256), &j});
  ++committing_;
}

void Engine::collect_commits() {
  for (auto& r : committer_->take_results()) {
    --committing_;
    auto& j = *static_cast<Job*>(r.tag);
    if (r.error.empty()) {
      succeed(j);
    } else {
      j.offset = 0;  // the partial is gone
      fail(j, r.error, false);
    }
  }
}

void Engine::succeed(Job& j) {
  j.lock.release();
  j.item->done = true;
  progress_.file_done(false);
  progress_.emit(
      {.kind = Event::Kind::downloaded, .label = j.item->label, .url = j.item->shown_url, .bytes = j.offset});
}

void Engine::retry_later(Job& j, const std::string& cause, std::optional<double> retry_after) {
  if (j.attempts > options_.retries) {
    std::string times = j.attempts == 1 ? "1 attempt" : std::to_string(j.attempts) + " attempts";
    return fail(j, cause + " (gave up after " + times + ")", false);
  }
  double delay = retry_delay(j.attempts, options_.retry_base_delay, options_.retry_max_delay, retry_after, rng_);
  j.ready_at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(delay));
  delayed_.push_back(&j);
  progress_.emit({.kind = Event::Kind::retry,
                  .label = j.item->label,
                  .url = j.item->shown_url,
                  .message = cause,
                  .attempt = j.attempts,
                  .delay_seconds = delay});
}

// A file that failed verification or can never succeed is removed; a partial download cut off by
// the network is kept (still under its .part name) so that the next run can resume it.
void Engine::fail(Job& j, const std::string& cause, bool problem) {
  if (j.lock.held() && (problem || j.offset == 0)) ::unlink(cache_.partial(j.item->sha256).c_str());
  j.lock.release();
  j.item->error = cause;
  j.item->problem = problem;
  progress_.file_done(false, true);
  progress_.emit({.kind = Event::Kind::failed, .label = j.item->label, .url = j.item->shown_url, .message = cause});
}

void Engine::run(std::vector<Item*>& items) {
  std::deque<Job*> queue;
  std::vector<Job*> waiting;  // another process holds the entry's lock
  for (Item* item : items) {
    jobs_.push_back(std::make_unique<Job>());
    jobs_.back()->engine = this;
    jobs_.back()->item = item;
    queue.push_back(jobs_.back().get());
  }
  const int concurrency = std::max(1, options_.concurrency);
  auto next_lock_poll = Clock::now();
  for (;;) {
    auto now = Clock::now();
    // Retries whose time has come, oldest first.
    std::stable_sort(delayed_.begin(), delayed_.end(), [](Job* a, Job* b) { return a->ready_at < b->ready_at; });
    while (active_ < concurrency && !delayed_.empty() && delayed_.front()->ready_at <= now) {
      Job* j = delayed_.front();
      delayed_.erase(delayed_.begin());
      next_attempt(*j);
    }
    auto startable = [&] {
      return std::find_if(queue.begin(), queue.end(), [&](Job* j) { return host_has_room(*j); });
    };
    while (active_ < concurrency && !queue.empty()) {
      auto it = startable();
      if (it == queue.end()) break;
      Job* j = *it;
      queue.erase(it);
      if (!take(*j)) {
        waiting.push_back(j);
        if (!j->reported_waiting) progress_.emit({.kind = Event::Kind::waiting, .label = j->item->label});
        j->reported_waiting = true;
      }
    }
    if (!waiting.empty() && now >= next_lock_poll) {
      for (auto it = waiting.begin(); it != waiting.end() && active_ < concurrency;)
        it = host_has_room(**it) && take(**it) ? waiting.erase(it) : it + 1;
      next_lock_poll = now + kLockPoll;
    }
    if (active_ == 0 && committing_ == 0 && queue.empty() && waiting.empty() && delayed_.empty()) break;

    int running = 0;
    curl_multi_perform(multi_, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Job* j = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&j));
      on_done(*j, msg->data.result);
    }
    // A transfer that received nothing for the stall timeout is cut off and retried (resuming).
    now = Clock::now();
    auto stall = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.stall_timeout));
    for (auto& j : jobs_)
      if (j->easy && now - j->last_activity >= stall) on_stall(*j);
    collect_commits();
    progress_.tick();
    if (active_ == 0 && committing_ == 0 && queue.empty() && waiting.empty() && delayed_.empty()) break;

    // Sleep until there is network activity, a retry is due, or it is time to look at locks.
    now = Clock::now();
    auto wake = now + std::chrono::seconds(1);
    for (auto& j : jobs_)
      if (j->easy) wake = std::min(wake, j->last_activity + stall);
    if (active_ < concurrency)
      for (Job* j : delayed_) wake = std::min(wake, j->ready_at);
    if (!waiting.empty()) wake = std::min(wake, next_lock_poll);
    if (active_ < concurrency && startable() != queue.end()) wake = now;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wake - now).count();
    if (ms > 0) curl_multi_poll(multi_, nullptr, 0, static_cast<int>(ms), nullptr);
  }
}

}  // namespace

void run(std::vector<Item*>& items, const Cache& cache, const Options& options, Progress& progress) {
  Engine engine(cache, options, progress);
  engine.run(items);
}

}  // namespace pb::fetch::detail
