// Locating Node.js and installing/identifying npm Pyodide runtimes.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <regex>

#include "runtime/runtime.hpp"

#include "nlohmann/json.hpp"
#include "runtime/process.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace pb::runtime {

namespace stdfs = std::filesystem;

namespace {
Locations g_locations;
}

void set_locations(const Locations& locations) {
  g_locations = locations;
}

stdfs::path find_node() {
  if (const auto& node = g_locations.node; !node.empty()) {
    if (::access(node.c_str(), X_OK) == 0) return node;
    throw Error("PYBUNDLE_NODE=" + node.string() + " is not an executable", Exit::usage);
  }
  for (const char* name : {"node", "nodejs"}) {
    if (auto p = find_program(name); !p.empty()) return p;
  }
  throw Error(
      "Node.js not found on PATH: pybundle runs Pyodide in Node.js 18 or newer; install it "
      "(Debian/Ubuntu: apt-get install nodejs) or set PYBUNDLE_NODE to the node executable",
      Exit::usage);
}

namespace {

bool valid_version(const std::string& v) {
  static const std::regex re(R"(^[0-9]+\.[0-9]+(\.[0-9]+)?([a-z]+[0-9]*)?$)");
  return std::regex_match(v, re);
}

// The version in the package's package.json, or "" when it is not a Pyodide runtime.
std::string package_version(const stdfs::path& dir) {
  std::error_code ec;
  if (!stdfs::exists(dir / "pyodide.mjs", ec) || !stdfs::exists(dir / "pyodide-lock.json", ec) ||
      !stdfs::exists(dir / "pyodide.asm.wasm", ec))
    return "";
  try {
    auto pkg = nlohmann::json::parse(fs::read_file(dir / "package.json"));
    return pkg.value("version", "");
  } catch (const std::exception&) {
    return "";
  }
}

class FileLock {
 public:
  explicit FileLock(const stdfs::path& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error("cannot open lock file " + path.string(), Exit::io);
    while (::flock(fd_, LOCK_EX) != 0) {
      if (errno != EINTR) throw Error("cannot lock " + path.string(), Exit::io);
    }
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

std::string tail_lines(const std::string& text, size_t n) {
  size_t pos = text.size();
  while (n-- > 0 && pos > 0) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos + 1);
}

}  // namespace

std::optional<stdfs::path> find_runtime(const std::string& version, const stdfs::path& cache_dir) {
  if (const auto& env = g_locations.pyodide_dir; !env.empty()) {
    for (auto dir : {env, env / version / "node_modules" / "pyodide"}) {
      if (package_version(dir) == version) return stdfs::absolute(dir);
    }
  }
  auto pkg = cache_dir / "runtimes" / ("pyodide-" + version) / "node_modules" / "pyodide";
  if (package_version(pkg) == version) return stdfs::absolute(pkg);
  return std::nullopt;
}

stdfs::path ensure_runtime(const std::string& version, const stdfs::path& cache_dir, bool offline) {
  if (!valid_version(version)) throw Error("invalid Pyodide version '" + version + "'", Exit::usage);
  if (auto found = find_runtime(version, cache_dir)) return *found;
  auto root = cache_dir / "runtimes";
  auto final_dir = root / ("pyodide-" + version);
  auto pkg = final_dir / "node_modules" / "pyodide";
  if (offline)
    throw Error("the Pyodide runtime pyodide@" + version + " is not installed (" + final_dir.string() +
                    ") and --offline does not start npm: run one build without --offline (it installs the "
                    "runtime with npm), or set PYBUNDLE_PYODIDE_DIR to an installed runtime",
                Exit::io);

  std::error_code ec;
  stdfs::create_directories(root, ec);
  if (ec) throw Error("cannot create " + root.string() + ": " + ec.message(), Exit::io);
  FileLock lock(root / (".lock-pyodide-" + version));
  if (package_version(pkg) == version) return stdfs::absolute(pkg);  // another build installed it

  auto npm = find_program("npm");
  if (npm.empty())
    throw Error("npm not found on PATH: it installs the Pyodide runtime pyodide@" + version +
                    " on first use (Debian/Ubuntu: apt-get install npm), or set PYBUNDLE_PYODIDE_DIR",
                Exit::usage);
  auto tmp = fs::make_temp_dir(root / "x", ".tmp-pyodide-" + version + "-");
  try {
    fs::write_file_atomic(tmp / "package.json", "{\"private\": true}\n");
    fs::write_file_atomic(tmp / ".npmrc", "omit-lockfile-registry-resolved=true\n");
    Spawn npm_install;
    npm_install.argv = {npm.string(), "install",    "--no-audit",        "--no-fund",
                        "--prefix",   tmp.string(), "pyodide@" + version};
    npm_install.cwd = tmp;
    npm_install.capture_stderr = true;
    auto r = spawn(npm_install);
    if (r.exit_code != 0) {
      auto said = r.err + r.out;
      // A release npm does not have is a wrong --target, not a network failure.
      if (said.find("code ETARGET") != std::string::npos || said.find("code E404") != std::string::npos)
        throw Error("pyodide@" + version +
                        ": npm has no such release of the pyodide package (`pybundle --version` lists the "
                        "supported targets)",
                    Exit::usage);
      auto tail = tail_lines(said, 6);
      while (!tail.empty() && tail.back() == '\n') tail.pop_back();
      for (auto pos = tail.find('\n'); pos != std::string::npos; pos = tail.find('\n', pos))
        tail.replace(pos, 1, " | ");  // one line
      throw Error("npm install pyodide@" + version + " failed (exit " + std::to_string(r.exit_code) + "): " + tail,
                  Exit::io);
    }
    auto got = package_version(tmp / "node_modules" / "pyodide");
    if (got != version) throw Error("npm installed pyodide '" + got + "', expected " + version, Exit::io);
    stdfs::remove_all(final_dir, ec);
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0)
      throw Error("cannot rename " + tmp.string() + " to " + final_dir.string(), Exit::io);
  } catch (...) {
    stdfs::remove_all(tmp, ec);
    throw;
  }
  return stdfs::absolute(pkg);
}

RuntimeInfo runtime_info(const stdfs::path& runtime_dir) {
  RuntimeInfo info;
  info.dir = runtime_dir;
  info.version = package_version(runtime_dir);
  if (info.version.empty())
    throw Error(runtime_dir.string() +
                    " is not a Pyodide runtime (pyodide.mjs, pyodide-lock.json, "
                    "pyodide.asm.wasm, package.json)",
                Exit::usage);
  // Pyodide's loader embeds BUILD_ID, a hash over pyodide.asm.js/.mjs and pyodide.asm.wasm; its own
  // snapshots carry it too. Fall back to hashing the wasm when a release spells it differently.
  auto mjs = fs::read_file(runtime_dir / "pyodide.mjs");
  for (size_t pos = mjs.find("BUILD_ID"); pos != std::string::npos; pos = mjs.find("BUILD_ID", pos + 1)) {
    size_t q = mjs.find_first_not_of(" :", pos + 8);
    if (q == std::string::npos || mjs[q] != '"') continue;
    size_t end = mjs.find('"', q + 1);
    if (end == std::string::npos) break;
    auto id = mjs.substr(q + 1, end - q - 1);
    if (id.size() >= 16 && id.find_first_not_of("0123456789abcdef") == std::string::npos) {
      info.build_id = id;
      break;
    }
  }
  if (info.build_id.empty()) info.build_id = "sha256:" + sha256_file(runtime_dir / "pyodide.asm.wasm");
  return info;
}

}  // namespace pb::runtime
