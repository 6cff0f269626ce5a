#include "runtime/host.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>

#include "host/protocol.hpp"
#include "runtime/runtime.hpp"
#include "util/embedded.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "util/sha256.hpp"

extern char** environ;

namespace pb::runtime {

namespace stdfs = std::filesystem;

namespace {

// `dir` is a real directory of ours that no one else may write into.
bool private_dir(const stdfs::path& dir) {
  struct stat st;
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() &&
         (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// Each host file is in `dir` with exactly the embedded content (written where it is not).
void write_host(const stdfs::path& dir) {
  for (const auto& f : embedded::host_files) {
    auto path = dir / f.name;
    std::string have;
    try {
      if (stdfs::is_regular_file(stdfs::symlink_status(path))) have = fs::read_file(path);
    } catch (const Error&) {}
    if (have != f.text) fs::write_file_atomic(path, f.text);
  }
}

}  // namespace

stdfs::path host_script(const stdfs::path& cache_dir) {
  Hash h;
  for (const auto& f : embedded::host_files) {
    h.update(f.name);
    h.update(std::string_view("\0", 1));
    h.update(f.text);
    h.update(std::string_view("\0", 1));
  }
  auto host_dir = cache_dir / "host" / ("host-" + h.hex().substr(0, 16));
  try {
    std::error_code ec;
    stdfs::create_directories(host_dir, ec);
    if (!ec && private_dir(host_dir)) {
      write_host(host_dir);
      return host_dir / "host.mjs";
    }
  } catch (const Error&) {
    // Not writable: a private directory instead.
  }
  // Never a shared, guessable temporary path: someone else could put a host there first.
  static const stdfs::path* private_host = [] {
    auto tmpl = (stdfs::temp_directory_path() / "pybundle-host-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) return new stdfs::path();
    auto* dir = new stdfs::path(tmpl);  // never destroyed: the atexit hook still needs it
    interrupt::remove_on_signal(*dir);
    std::atexit([] {
      std::error_code ec;
      stdfs::remove_all(*private_host, ec);
    });
    return dir;
  }();
  if (private_host->empty())
    throw Error("cannot write the JavaScript host into " + (cache_dir / "host").string(), Exit::io);
  write_host(*private_host);
  return *private_host / "host.mjs";
}

namespace {
// Where a path really is: under --sandbox Node resolves the modules it imports through symbolic
// links (a cache whose runtimes/ is one) and may read only what it was allowed.
stdfs::path real_path(const stdfs::path& p) {
  std::error_code ec;
  auto real = stdfs::weakly_canonical(stdfs::absolute(p), ec);
  return ec ? stdfs::absolute(p) : real;
}

std::atomic<double> g_host_timeout{300};
std::atomic<bool> g_sandbox{false};

// Node 22.13+ spells the permission model --permission; 20 to 22.12 --experimental-permission.
std::string permission_flag(const std::string& node) {
  static const std::string flag = [&node] {
    Spawn probe;
    probe.argv = {node, "--version"};
    auto version = spawn(probe).out;  // "v20.20.2"
    int major = 0, minor = 0;
    if (std::sscanf(version.c_str(), "v%d.%d", &major, &minor) != 2 || major < 20)
      throw Error("--sandbox: " + node + " is Node.js " + version.substr(0, version.find('\n')) +
                      ", which has no permission model (Node.js 20 or newer is needed)",
                  Exit::usage);
    return std::string(major > 22 || (major == 22 && minor >= 13) ? "--permission" : "--experimental-permission");
  }();
  return flag;
}

// The permission flags go before the script; the paths must exist for Node to allow them. Node
// allows and checks paths as they really are: an allowed path reached through a symbolic link (a
// cache whose heaps/ is one) is handed to the host resolved.
std::vector<std::string> sandboxed_argv(const NodeSpawn& spawn) {
  // --no-warnings: Node warns on every start that the model is experimental.
  std::vector<std::string> argv{spawn.argv.front(), permission_flag(spawn.argv.front()), "--allow-worker",
                                "--no-warnings"};
  std::map<std::string, std::string> resolved;
  auto allow = [&](const char* flag, const stdfs::path& p) {
    auto real = real_path(p).string();
    resolved[p.string()] = real;
    argv.push_back(std::string(flag) + real);
  };
  for (const auto& p : spawn.reads) allow("--allow-fs-read=", p);
  for (const auto& p : spawn.writes) allow("--allow-fs-read=", p), allow("--allow-fs-write=", p);
  for (auto it = spawn.argv.begin() + 1; it != spawn.argv.end(); ++it) {
    auto r = resolved.find(*it);
    argv.push_back(r == resolved.end() ? *it : r->second);
  }
  return argv;
}
}  // namespace

namespace {
// A sandboxed host sees none of the user's secrets (tokens in CI): only what Node and the host read.
std::map<std::string, std::string> sandboxed_env() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    auto name = kv.substr(0, eq);
    if (name == "PATH" || name == "HOME" || name == "LANG" || name == "TZ" || name.starts_with("LC_") ||
        name == "PYBUNDLE_HOST_TRACE" || name == "PYBUNDLE_IMPORT_TRACE")
      env.emplace(name, eq == std::string_view::npos ? "" : kv.substr(eq + 1));
  }
  return env;
}
}  // namespace

double host_timeout() {
  return g_host_timeout.load();
}
void set_host_timeout(double seconds) {
  g_host_timeout = seconds;
}
void set_sandbox(bool on) {
  g_sandbox = on;
}
bool sandboxed() {
  return g_sandbox.load();
}

ProcessResult spawn_node(const NodeSpawn& node) {
  bool sandbox = sandboxed() && !node.reads.empty();
  Spawn s;
  s.argv = sandbox ? sandboxed_argv(node) : node.argv;
  if (sandbox) s.env = sandboxed_env(), s.only_env = true;
  s.feed = node.feed;
  s.capture_stdout = node.capture_stdout;
  s.on_stdout = node.on_stdout;
  s.forward_signals = node.forward_signals;
  s.timeout = node.timeout;
  return spawn(s);
}

std::string seconds_text(double s) {
  std::ostringstream out;
  out << s;
  return out.str();
}

NodeSpawn host_spawn(const HostCall& call) {
  if (call.cache_dir.empty()) throw Error("internal: the host needs a cache directory", Exit::internal);
  NodeSpawn spawn;
  auto script = real_path(host_script(call.cache_dir));
  auto runtime = real_path(call.runtime_dir), bundle = real_path(call.bundle_dir);
  spawn.argv = {find_node().string()};
  spawn.argv.insert(spawn.argv.end(), call.node_flags.begin(), call.node_flags.end());
  spawn.argv.insert(spawn.argv.end(),
                    {script.string(), call.mode, host::kRuntime, runtime.string(), host::kBundle, bundle.string()});
  // The V8 code cache is runtime code the next run trusts: a sandboxed app must not write it.
  if (!sandboxed()) spawn.argv.insert(spawn.argv.end(), {host::kCodeCache, (call.cache_dir / "v8").string()});
  for (const auto& p : {script, runtime, bundle, call.cache_dir})
    if (!fs::valid_utf8(p.string()))  // Node decodes its argv as UTF-8: another byte names no such path
      throw Error(p.string() + ": the path is not valid UTF-8, so Node.js cannot open it; use a path in UTF-8",
                  Exit::usage);
  spawn.reads = {script.parent_path(), runtime};
  (call.writes_bundle ? spawn.writes : spawn.reads).push_back(bundle);
  return spawn;
}

nlohmann::json parse_answer(const ProcessResult& r, const std::string& mode) {
  if (r.timed_out)
    throw Error("the JavaScript host (" + mode + ") did not finish within " + seconds_text(r.timeout) +
                    " s and was stopped (an import or handler that never returns?); raise the limit with "
                    "--timeout SECONDS",
                Exit::problems);
  std::string_view out = r.out;
  while (!out.empty()) {
    auto end = out.find_last_not_of("\r\n ");
    if (end == std::string_view::npos) break;
    out = out.substr(0, end + 1);
    auto start = out.rfind('\n');
    auto line = out.substr(start == std::string_view::npos ? 0 : start + 1);
    if (!line.empty() && line.front() == '{') {
      try {
        return nlohmann::json::parse(line);
      } catch (const std::exception&) {}
    }
    if (start == std::string_view::npos) break;
    out = out.substr(0, start);
  }
  std::string how =
      r.signal ? "was killed by signal " + std::to_string(r.signal) : "exited with code " + std::to_string(r.exit_code);
  throw Error("the JavaScript host (" + mode + ") " + how + " without an answer; see its output above", Exit::internal);
}

nlohmann::json run_host(const HostCall& call, const std::vector<std::string>& args) {
  auto spawn = host_spawn(call);
  spawn.argv.insert(spawn.argv.end(), args.begin(), args.end());
  auto answer = parse_answer(spawn_node(spawn), call.mode);
  if (!answer.value(host::kOk, false))
    throw Error(answer.value(host::kError, "the JavaScript host failed"), Exit::problems);
  return answer;
}

}  // namespace pb::runtime
