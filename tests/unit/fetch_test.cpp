#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "fetch/cache.hpp"
#include "fetch/fetch.hpp"
#include "fetch/progress.hpp"
#include "fetch/retry.hpp"
#include "fetch/source.hpp"
#include "testing.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace stdfs = std::filesystem;
using namespace pb::fetch;
using pb::testing::TempDir;

namespace {

std::vector<stdfs::path> files_under(const stdfs::path& dir) {
  std::vector<stdfs::path> out;
  for (auto& e : stdfs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

// A local wheel must at least look like one (a zip archive) before it is copied into the cache.
std::string wheel(std::string_view tail) {
  return std::string("PK\x03\x04", 4) + std::string(tail);
}

Request local_request(const stdfs::path& file, std::string label) {
  auto data = pb::fs::read_file(file);
  return {file.string(), pb::sha256_hex(data), data.size(), std::move(label)};
}

// A loopback HTTP server answering each request with `status` and `body`; keeps the request heads.
class OneShotServer {
 public:
  OneShotServer(std::string status, std::string body) : status_(std::move(status)), body_(std::move(body)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(fd_, 4) == 0);
    thread_ = std::thread([this] {
      for (int c; (c = ::accept(fd_, nullptr, nullptr)) >= 0;) {
        std::string head;
        char buf[4096];
        while (head.find("\r\n\r\n") == std::string::npos) {
          auto n = ::read(c, buf, sizeof buf);
          if (n <= 0) break;
          head.append(buf, static_cast<size_t>(n));
        }
        heads_.push_back(head);
        auto answer = "HTTP/1.1 " + status_ + "\r\nContent-Length: " + std::to_string(body_.size()) +
                      "\r\nConnection: close\r\n\r\n" + body_;
        (void)!::write(c, answer.data(), answer.size());
        ::close(c);
      }
    });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  // Read after the client is done (the server thread appends while it answers).
  const std::vector<std::string>& heads() const { return heads_; }

 private:
  std::string status_, body_;
  int fd_ = -1, port_ = 0;
  std::vector<std::string> heads_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("credentials never appear in a shown URL") {
  CHECK(redact_url("https://user:secret@host.example/a/b.whl") == "https://host.example/a/b.whl");
  CHECK(redact_url("https://token@host.example/x") == "https://host.example/x");
  CHECK(redact_url("https://host.example/a@b.whl") == "https://host.example/a@b.whl");
  CHECK(redact_url("https://u:p@host.example") == "https://host.example");
  CHECK(redact_url("/local/path@1/x.whl") == "/local/path@1/x.whl");
}

TEST_CASE("mirrors rewrite the longest matching prefix") {
  std::vector<std::pair<std::string, std::string>> m = {
      {"https://files.example/", "http://127.0.0.1:9/all/"},
      {"https://files.example/packages/", "http://127.0.0.1:9/pkgs/"},
  };
  CHECK(apply_mirrors("https://files.example/packages/a.whl", m) == "http://127.0.0.1:9/pkgs/a.whl");
  CHECK(apply_mirrors("https://files.example/other/a.whl", m) == "http://127.0.0.1:9/all/other/a.whl");
  CHECK(apply_mirrors("https://elsewhere.example/a.whl", m) == "https://elsewhere.example/a.whl");
  CHECK(parse_mirror("https://a/=/srv/mirror/") == std::pair<std::string, std::string>{"https://a/", "/srv/mirror/"});
  CHECK_THROWS_AS(parse_mirror("https://a/"), pb::Error);
  CHECK_THROWS_AS(parse_mirror("=x"), pb::Error);
}

TEST_CASE("sources: remote URLs, file URLs and paths relative to the lock") {
  CHECK(classify("https://h/x.whl", "/base").kind == Source::Kind::remote);
  CHECK(classify("HTTP://h/x.whl", "/base").kind == Source::Kind::remote);
  auto rel = classify("dist/x.whl", "/proj");
  CHECK(rel.kind == Source::Kind::local);
  CHECK(rel.path == "/proj/dist/x.whl");
  CHECK(classify("../w/x.whl", "/proj/sub").path == "/proj/w/x.whl");
  CHECK(classify("/abs/x.whl", "/proj").path == "/abs/x.whl");
  auto file = classify("file:///srv/wheels/a%20b.whl", "/proj");
  CHECK(file.kind == Source::Kind::local);
  CHECK(file.path == "/srv/wheels/a b.whl");
  CHECK(classify("file://localhost/srv/x.whl", "/").path == "/srv/x.whl");
  CHECK(classify("file://otherhost/srv/x.whl", "/").kind == Source::Kind::unsupported);
  CHECK(classify("ftp://h/x.whl", "/").kind == Source::Kind::unsupported);
  CHECK(percent_decode("a%2Fb%zz%4") == "a/b%zz%4");
}

TEST_CASE("retry policy: transient failures only") {
  CHECK(retryable_status(500));
  CHECK(retryable_status(503));
  CHECK(retryable_status(429));
  CHECK(retryable_status(408));
  CHECK_FALSE(retryable_status(404));
  CHECK_FALSE(retryable_status(403));
  CHECK_FALSE(retryable_status(401));
  CHECK_FALSE(retryable_status(410));
}

TEST_CASE("backoff doubles with jitter, is capped, and yields to Retry-After") {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100; ++i) {
    double d1 = retry_delay(1, 0.5, 30, std::nullopt, rng);
    CHECK(d1 >= 0.25);
    CHECK(d1 <= 0.5);
    double d3 = retry_delay(3, 0.5, 30, std::nullopt, rng);
    CHECK(d3 >= 1.0);
    CHECK(d3 <= 2.0);
    CHECK(retry_delay(20, 0.5, 30, std::nullopt, rng) <= 30);
  }
  CHECK(retry_delay(1, 0.5, 30, 7.0, rng) == 7.0);
  CHECK(retry_delay(1, 0.5, 30, 3600.0, rng) == 30.0);
}

TEST_CASE("cache layout is content-addressed") {
  Cache c("/c");
  std::string sha(64, 'a');
  sha[0] = '3';
  sha[1] = 'f';
  CHECK(c.entry(sha) == stdfs::path("/c/wheels/3f") / sha);
  CHECK(c.partial(sha).string() == "/c/wheels/3f/" + sha + ".part");
  CHECK(is_sha256_hex(sha));
  CHECK_FALSE(is_sha256_hex(std::string(64, 'A')));
  CHECK_FALSE(is_sha256_hex("abc"));
}

TEST_CASE("an entry lock excludes other processes until released") {
  TempDir t;
  Cache cache(t.path);
  cache.ensure();
  std::string sha = pb::sha256_hex("x");
  auto lock = cache.try_lock(sha);
  REQUIRE(lock);
  // flock is per open file: a child process (or a second open here) cannot take it.
  pid_t pid = ::fork();
  if (pid == 0) _exit(cache.try_lock(sha) ? 1 : 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_FALSE(cache.try_lock(sha));
  lock->release();
  CHECK(cache.try_lock(sha));
}

TEST_CASE("local files are verified and copied into the cache, in request order") {
  TempDir t;
  pb::fs::write_file_atomic(t.path / "a.whl", wheel("a"));
  pb::fs::write_file_atomic(t.path / "b.whl", wheel(std::string(1 << 20, 'b')));
  Options o;
  o.cache_dir = t.path / "cache";
  o.base_dir = t.path;
  auto a = local_request(t.path / "a.whl", "a");
  a.url = "a.whl";  // relative to base_dir
  auto b = local_request(t.path / "b.whl", "b");
  b.url = "file://" + b.url;
  auto files = fetch_all({b, a, b}, o);
  REQUIRE(files.size() == 3);
  CHECK(files[0] == Cache(o.cache_dir).entry(b.sha256));
  CHECK(files[1] == Cache(o.cache_dir).entry(a.sha256));
  CHECK(files[2] == files[0]);
  CHECK(pb::fs::read_file(files[1]) == wheel("a"));
  CHECK(pb::sha256_file(files[0]) == b.sha256);
  CHECK(stdfs::exists(o.cache_dir / "CACHEDIR.TAG"));
}

TEST_CASE("a wrong hash is an error naming the package, and nothing is cached") {
  TempDir t;
  pb::fs::write_file_atomic(t.path / "a.whl", wheel("a"));
  Options o;
  o.cache_dir = t.path / "cache";
  auto r = local_request(t.path / "a.whl", "alpha-pkg");
  r.sha256 = pb::sha256_hex("something else");
  try {
    fetch_all({r}, o);
    FAIL("expected an error");
  } catch (const pb::Errors& e) {
    CHECK(e.code() == pb::Exit::problems);
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].find("package 'alpha-pkg'") != std::string::npos);
    CHECK(e.problems()[0].find("sha256 mismatch") != std::string::npos);
    CHECK(e.problems()[0].find(r.sha256) != std::string::npos);
  }
  CHECK(files_under(o.cache_dir / "wheels").empty());
}

TEST_CASE("every failure is reported at once") {
  TempDir t;
  Options o;
  o.cache_dir = t.path / "cache";
  std::vector<Request> reqs = {
      {(t.path / "missing1.whl").string(), pb::sha256_hex("1"), {}, "one"},
      {"gopher://h/x.whl", pb::sha256_hex("2"), {}, "two"},
      {"/x.whl", "not-a-hash", {}, "three"},
  };
  try {
    fetch_all(reqs, o);
    FAIL("expected an error");
  } catch (const pb::Errors& e) {
    REQUIRE(e.problems().size() == 3);
    CHECK(e.problems()[0].find("package 'one'") != std::string::npos);
    CHECK(e.problems()[0].find("missing1.whl") != std::string::npos);
    CHECK(e.problems()[1].find("unsupported URL scheme") != std::string::npos);
    CHECK(e.problems()[2].find("not 64 hex digits") != std::string::npos);
  }
}

TEST_CASE("offline: cached files are served, missing ones are all named") {
  TempDir t;
  pb::fs::write_file_atomic(t.path / "a.whl", wheel("a"));
  Options o;
  o.cache_dir = t.path / "cache";
  auto a = local_request(t.path / "a.whl", "a");
  fetch_all({a}, o);  // warm the cache with one file
  o.offline = true;
  // The cache is keyed by hash, so the URL no longer matters.
  a.url = "http://127.0.0.1:9/a.whl";
  CHECK(fetch_all({a}, o).size() == 1);
  std::vector<Request> reqs = {a,
                               {"http://127.0.0.1:9/b.whl", pb::sha256_hex("b"), {}, "bee"},
                               {"http://127.0.0.1:9/c.whl", pb::sha256_hex("c"), {}, "sea"}};
  size_t failed_events = 0, failed_count = 0;
  o.reporter = [&](const Event& e) {
    failed_events += e.kind == Event::Kind::failed;
    failed_count = e.files_failed;
  };
  try {
    fetch_all(reqs, o);
    FAIL("expected an error");
  } catch (const pb::Errors& e) {
    CHECK(e.code() == pb::Exit::io);
    REQUIRE(e.problems().size() == 3);
    CHECK(e.problems()[0].find("package 'bee': http://127.0.0.1:9/b.whl: not in the cache") == 0);
    CHECK(e.problems()[1].find("package 'sea'") == 0);
    CHECK(e.problems()[2].find("2 files are missing from the cache at " + o.cache_dir.string()) == 0);
  }
  CHECK(failed_events == 2);
  CHECK(failed_count == 2);
}

TEST_CASE("progress events count files and bytes") {
  TempDir t;
  pb::fs::write_file_atomic(t.path / "a.whl", wheel("a"));
  pb::fs::write_file_atomic(t.path / "b.whl", wheel("b"));
  std::vector<Event> events;
  Options o;
  o.cache_dir = t.path / "cache";
  o.reporter = [&](const Event& e) { events.push_back(e); };
  auto a = local_request(t.path / "a.whl", "a");
  auto b = local_request(t.path / "b.whl", "b");
  fetch_all({a}, o);
  events.clear();
  fetch_all({a, b}, o);
  REQUIRE(events.size() >= 4);
  CHECK(events.front().kind == Event::Kind::start);
  CHECK(events.front().files_total == 2);
  CHECK(events.front().bytes_total == 5);
  CHECK(events.back().kind == Event::Kind::finish);
  CHECK(events.back().files_done == 2);
  CHECK(events.back().files_cached == 1);
  CHECK(events.back().bytes_done == 5);
  CHECK(events.back().files_failed == 0);
  int downloaded = 0;
  for (auto& e : events) downloaded += e.kind == Event::Kind::downloaded && e.label == "b";
  CHECK(downloaded == 1);
}

TEST_CASE("prune drops entries unused for N days and keeps fresh ones") {
  TempDir t;
  pb::fs::write_file_atomic(t.path / "old.whl", wheel("old"));
  pb::fs::write_file_atomic(t.path / "new.whl", wheel("new"));
  Options o;
  o.cache_dir = t.path / "cache";
  auto old_r = local_request(t.path / "old.whl", "old");
  auto new_r = local_request(t.path / "new.whl", "new");
  auto files = fetch_all({old_r, new_r}, o);
  auto ancient = stdfs::file_time_type::clock::now() - std::chrono::hours(24 * 40);
  stdfs::last_write_time(files[0], ancient);
  auto stats = prune_cache(o.cache_dir, std::chrono::hours(24 * 30));
  CHECK(stats.files == 1);
  CHECK(stats.bytes == wheel("old").size());
  CHECK_FALSE(stdfs::exists(files[0]));
  CHECK(stdfs::exists(files[1]));
  // Using an entry refreshes it: a cache hit touches the file.
  stdfs::last_write_time(files[1], ancient);
  fetch_all({new_r}, o);
  CHECK(prune_cache(o.cache_dir, std::chrono::hours(24 * 30)).files == 0);
}

TEST_CASE("clean empties a cache but refuses a directory that is not one") {
  TempDir t;
  pb::fs::write_file_atomic(t.path / "a.whl", wheel("a"));
  Options o;
  o.cache_dir = t.path / "cache";
  fetch_all({local_request(t.path / "a.whl", "a")}, o);
  auto stats = clean_cache(o.cache_dir, false);
  CHECK(stats.files >= 1);
  CHECK(stdfs::is_empty(o.cache_dir));
  stdfs::create_directories(t.path / "precious");
  pb::fs::write_file_atomic(t.path / "precious" / "thesis.tex", "x");
  CHECK_THROWS_AS(clean_cache(t.path / "precious", false), pb::Error);
  CHECK(stdfs::exists(t.path / "precious" / "thesis.tex"));
  // A build pointed at that folder tags it; clean then removes only what pybundle put there.
  o.cache_dir = t.path / "precious";
  fetch_all({local_request(t.path / "a.whl", "a")}, o);
  CHECK(stdfs::exists(t.path / "precious" / "CACHEDIR.TAG"));
  stats = clean_cache(o.cache_dir, false);
  CHECK(stats.files >= 2);
  CHECK(stats.kept == std::vector<std::string>{"thesis.tex"});
  CHECK(stdfs::exists(t.path / "precious" / "thesis.tex"));
  CHECK_FALSE(stdfs::exists(t.path / "precious" / "wheels"));
  CHECK_FALSE(stdfs::exists(t.path / "precious" / "CACHEDIR.TAG"));
}

TEST_CASE("human byte sizes") {
  CHECK(human_bytes(512) == "512 B");
  CHECK(human_bytes(1536) == "1.5 KiB");
  CHECK(human_bytes(3.0 * 1024 * 1024) == "3.0 MiB");
}

TEST_CASE("get: a small body through the mirrors, with the netrc's credentials") {
  TempDir t;
  OneShotServer server("200 OK", "Metadata-Version: 2.1\nName: x\n");
  pb::fs::write_file_atomic(t.path / "netrc", "machine 127.0.0.1 login alice password s3cret\n");
  Options o;
  o.netrc_file = t.path / "netrc";
  o.mirrors = {{"https://files.example/", server.url("/mirror/")}};
  auto body = get("https://files.example/x-1.0-py3-none-any.whl.metadata", o);
  REQUIRE(body);
  CHECK(*body == "Metadata-Version: 2.1\nName: x\n");
  REQUIRE(server.heads().size() == 1);
  CHECK(server.heads()[0].starts_with("GET /mirror/x-1.0-py3-none-any.whl.metadata HTTP/1.1\r\n"));
  CHECK(server.heads()[0].find("Authorization: Basic YWxpY2U6czNjcmV0\r\n") != std::string::npos);
  CHECK_FALSE(get(server.url("/big"), o, 8));  // past max_bytes
  o.offline = true;
  CHECK_FALSE(get(server.url("/x"), o));
  CHECK(server.heads().size() == 2);  // offline asked nothing
}

TEST_CASE("get: an error status, a refused connection, or a local path is nothing") {
  TempDir t;
  OneShotServer server("404 Not Found", "no");
  Options o;
  CHECK_FALSE(get(server.url("/x.metadata"), o));
  o.connect_timeout = 2;
  CHECK_FALSE(get("http://127.0.0.1:9/x.metadata", o));
  pb::fs::write_file_atomic(t.path / "x.metadata", "Metadata-Version: 2.1\n");
  CHECK_FALSE(get((t.path / "x.metadata").string(), o));
  CHECK_FALSE(get("file://" + (t.path / "x.metadata").string(), o));
}
