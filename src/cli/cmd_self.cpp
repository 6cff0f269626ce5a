// `pybundle self check`: what this installation runs with — Node.js, npm, the runtime cache and
// which supported Pyodide releases are already in it, the CA certificates downloads trust.
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/common.hpp"
#include "fetch/ca_store.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "runtime/process.hpp"
#include "runtime/runtime.hpp"

namespace pb::cli {

namespace {

constexpr int kMinNodeMajor = 18;  // the oldest Node.js the host runs on (runtime/runtime.hpp: find_node)

struct Tool {
  std::string path, version, problem;
};

// `PROGRAM --version`'s first line, e.g. "v20.19.2".
std::string version_of(const std::string& program) {
  auto r = runtime::spawn({.argv = {program, "--version"}, .capture_stderr = true});
  if (r.exit_code != 0) return "";
  auto line = r.out.substr(0, r.out.find('\n'));
  return line;
}

Tool node() {
  Tool t;
  try {
    t.path = runtime::find_node().string();
  } catch (const Error& e) {
    t.problem = e.what();
    return t;
  }
  t.version = version_of(t.path);
  int major = 0;
  if (t.version.size() > 1 && t.version[0] == 'v') major = std::atoi(t.version.c_str() + 1);
  if (major < kMinNodeMajor)
    t.problem = t.path + " is Node.js '" + t.version + "': pybundle needs Node.js " + std::to_string(kMinNodeMajor) +
                " or newer";
  return t;
}

Tool npm() {
  Tool t;
  t.path = runtime::find_program("npm").string();
  if (t.path.empty()) t.problem = "npm not found on PATH: it installs a Pyodide release on first use";
  else t.version = version_of(t.path);
  return t;
}

}  // namespace

void run_self_check() {
  auto cache = global().cache();
  Tool n = node(), m = npm();
  auto ca = fetch::system_ca_store();
  nlohmann::json releases = nlohmann::json::array();
  bool missing = false;
  for (const auto& r : supported_releases()) {
    auto dir = runtime::find_runtime(r, cache);
    missing = missing || !dir;
    releases.push_back({{"target", "pyodide@" + r},
                        {"default", "pyodide@" + r == default_target()},
                        {"installed", dir.has_value()},
                        {"dir", dir ? dir->string() : ""}});
  }

  if (global().format == Format::json) {
    auto tool = [](const Tool& t) {
      return nlohmann::json{{"path", t.path}, {"version", t.version}, {"problem", t.problem}};
    };
    nlohmann::json j = {{"version", PYBUNDLE_VERSION},
                        {"commit", build_commit()},
                        {"node", tool(n)},
                        {"npm", tool(m)},
                        {"runtime_cache", (cache / "runtimes").string()},
                        {"releases", releases},
                        {"ca_file", ca.file},
                        {"ca_dir", ca.dir}};
    print_json(j);
  } else {
    auto line = [](const std::string& label, const Tool& t) {
      std::cout << label << ": " << (t.path.empty() ? "not found" : t.version + " (" + t.path + ")") << "\n";
    };
    std::cout << "pybundle " << PYBUNDLE_VERSION << " (commit " << build_commit() << ")\n";
    line("node", n);
    line("npm", m);
    std::cout << "runtime cache: " << (cache / "runtimes").string() << "\n";
    for (const auto& r : releases)
      std::cout << r["target"].get<std::string>() << (r["default"].get<bool>() ? " (default)" : "") << ": "
                << (r["installed"].get<bool>() ? "installed in " + r["dir"].get<std::string>()
                                               : std::string("not installed (npm installs it on first use)"))
                << "\n";
    std::cout << "CA certificates: "
              << (ca.file.empty() && ca.dir.empty()
                      ? "none found (set SSL_CERT_FILE)"
                      : ca.file + (ca.file.empty() || ca.dir.empty() ? "" : ", ") + ca.dir)
              << "\n";
  }
  // Without npm nothing missing can be installed; without a usable Node.js nothing runs.
  if (!m.problem.empty() && missing) warning(m.problem);
  if (!n.problem.empty()) throw Error(n.problem, Exit::problems);
}

}  // namespace pb::cli
