#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>

#include "runtime/host.hpp"
#include "runtime/process.hpp"
#include "runtime/runtime.hpp"
#include "testing.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace stdfs = std::filesystem;
using namespace pb::runtime;

using pb::testing::error_of;
using pb::testing::TempDir;

namespace {

// Sets the runtime locations for one scope.
struct ScopedLocations {
  explicit ScopedLocations(const Locations& l) { set_locations(l); }
  ~ScopedLocations() { set_locations({}); }
};

// A fake runtime directory: enough files for runtime_info and ensure_runtime.
stdfs::path fake_runtime(const stdfs::path& dir, const std::string& version, const std::string& build_id) {
  stdfs::create_directories(dir);
  pb::fs::write_file_atomic(dir / "package.json", "{\"name\": \"pyodide\", \"version\": \"" + version + "\"}");
  pb::fs::write_file_atomic(dir / "pyodide-lock.json", "{}");
  pb::fs::write_file_atomic(dir / "pyodide.asm.wasm", "wasm-bytes");
  pb::fs::write_file_atomic(dir / "pyodide.mjs", "var x={a:1,BUILD_ID:\"" + build_id + "\"};");
  return dir;
}

Spawn sh(const std::string& script) {
  Spawn s;
  s.argv = {"sh", "-c", script};
  return s;
}

}  // namespace

TEST_CASE("spawn captures stdout and stderr and the exit code") {
  auto s = sh("echo hi; echo err >&2; exit 3");
  s.capture_stderr = true;
  auto r = spawn(s);
  CHECK(r.out == "hi\n");
  CHECK(r.err == "err\n");
  CHECK(r.exit_code == 3);
  CHECK(r.signal == 0);
}

TEST_CASE("spawn names a program it cannot start") {
  CHECK(error_of([] { spawn(Spawn{.argv = {"definitely-not-a-program-xyz"}}); }).find("cannot find") == 0);
  TempDir t;
  auto s = sh("exit 0");
  s.cwd = t.path / "missing";
  CHECK(error_of([&] { spawn(s); }).find("No such file or directory") != std::string::npos);
}

TEST_CASE("spawn runs in cwd with the environment given") {
  TempDir t;
  auto s = sh("pwd; echo \"$PB_A:${PB_B-unset}\"");
  s.cwd = t.path;
  s.env = {{"PB_A", "a"}};
  ::setenv("PB_B", "b", 1);
  CHECK(spawn(s).out == stdfs::canonical(t.path).string() + "\na:b\n");
  s.only_env = true;  // nothing inherited
  CHECK(spawn(s).out.ends_with("\na:unset\n"));
  ::unsetenv("PB_B");
}

TEST_CASE("spawn feeds stdin on a thread and streams stdout") {
  auto s = sh("wc -c");
  std::string big(3 << 20, 'x');  // more than a pipe holds
  s.feed = [&](int fd) { pb::fs::write_all(fd, big.data(), big.size()); };
  std::string seen;
  s.on_stdout = [&](std::string_view piece) { seen += piece; };
  auto r = spawn(s);
  CHECK(r.out.empty());
  CHECK(std::stoul(seen) == big.size());
}

TEST_CASE("spawn kills a child that outlives its timeout") {
  auto s = sh("sleep 30");
  s.timeout = 0.2;
  auto r = spawn(s);
  CHECK(r.timed_out);
  CHECK(r.signal == SIGKILL);
  CHECK_THROWS_WITH_AS(parse_answer(r, "run"), doctest::Contains("did not finish within 0.2 s"), pb::Error);
}

TEST_CASE("the host's answer is the last JSON object line of stdout") {
  ProcessResult r;
  r.exit_code = 0;
  r.out = "{\"ok\": false}\nlog line\n{\"ok\": true, \"n\": 1}\n\n";
  CHECK(parse_answer(r, "run")["n"] == 1);
  r.out = "no answer\n{broken\n";
  r.exit_code = 7;
  CHECK(error_of([&] { parse_answer(r, "smoke"); }) ==
        "the JavaScript host (smoke) exited with code 7 without an answer; see its output above");
}

TEST_CASE("the host is written once, into a directory named from its content") {
  TempDir t;
  auto a = host_script(t.path);
  CHECK(a.filename() == "host.mjs");
  CHECK(a.parent_path().parent_path() == t.path / "host");
  CHECK(a.parent_path().filename().string().rfind("host-", 0) == 0);
  CHECK(pb::fs::read_file(a).find("make-snapshot") != std::string::npos);
  // A file lost from it (an interrupted write, a cleaned temp dir) is written again.
  std::filesystem::remove(a.parent_path() / "prelude.py");
  CHECK(host_script(t.path) == a);
  CHECK(std::filesystem::exists(a.parent_path() / "prelude.py"));
}

TEST_CASE("runtime_info reads the version and Pyodide's build id") {
  TempDir t;
  auto dir = fake_runtime(t.path / "pyodide", "0.29.3", "b7b7b0f46eb68e65c029c0dc739270e8");
  auto info = runtime_info(dir);
  CHECK(info.version == "0.29.3");
  CHECK(info.build_id == "b7b7b0f46eb68e65c029c0dc739270e8");
  pb::fs::write_file_atomic(dir / "pyodide.mjs", "no id here");
  CHECK(runtime_info(dir).build_id == "sha256:" + pb::sha256_hex("wasm-bytes"));
  CHECK(error_of([&] { runtime_info(t.path); }).find("is not a Pyodide runtime") != std::string::npos);
}

TEST_CASE("ensure_runtime honours PYBUNDLE_PYODIDE_DIR only for the version it holds") {
  TempDir t;
  fake_runtime(t.path / "0.27.7" / "node_modules" / "pyodide", "0.27.7", "1111111111111111");
  auto direct = fake_runtime(t.path / "direct", "0.29.3", "2222222222222222");
  auto cache = t.path / "cache";
  fake_runtime(cache / "runtimes" / "pyodide-314.0.7" / "node_modules" / "pyodide", "314.0.7", "3333333333333333");
  {
    ScopedLocations env({.pyodide_dir = t.path});
    CHECK(ensure_runtime("0.27.7", cache) == stdfs::absolute(t.path / "0.27.7" / "node_modules" / "pyodide"));
    CHECK(ensure_runtime("314.0.7", cache) ==
          stdfs::absolute(cache / "runtimes" / "pyodide-314.0.7" / "node_modules" / "pyodide"));
  }
  {
    ScopedLocations env({.pyodide_dir = direct});
    CHECK(ensure_runtime("0.29.3", cache) == stdfs::absolute(direct));
  }
  CHECK(error_of([&] { ensure_runtime("0.29.3; rm -rf /", cache); }).find("invalid Pyodide version") !=
        std::string::npos);
}

TEST_CASE("without node on PATH the error says what to install") {
  const char* old = std::getenv("PATH");
  std::string saved = old ? old : "";
  ::setenv("PATH", "/nonexistent", 1);
  auto msg = error_of([] { find_node(); });
  ::setenv("PATH", saved.c_str(), 1);
  CHECK(msg.find("Node.js not found") != std::string::npos);
  CHECK(msg.find("apt-get install nodejs") != std::string::npos);
  ScopedLocations node({.node = "/nonexistent/node"});
  CHECK(error_of([] { find_node(); }).find("PYBUNDLE_NODE=/nonexistent/node") != std::string::npos);
}
