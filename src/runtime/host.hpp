// The embedded JavaScript host (src/host/) run in Node.js: where its files are written, the
// command line of one run, the limits it runs under, and its answer. The protocol itself is
// host/protocol.hpp.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"
#include "runtime/process.hpp"

namespace pb::runtime {

// The host, written once per content into <cache>/host/host-<hash>/: the path of its host.mjs.
std::filesystem::path host_script(const std::filesystem::path& cache_dir);

// The limit on one run of the host (snapshot, smoke, run, check): --timeout, default 300 s.
double host_timeout();
void set_host_timeout(double seconds);

// --sandbox: every host runs under Node's permission model, reading only its own files, the runtime
// and what its NodeSpawn lists, writing only what that lists, with no child processes.
void set_sandbox(bool on);
bool sandboxed();

struct NodeSpawn {
  std::vector<std::string> argv;                     // argv[0] is the node executable
  std::vector<std::filesystem::path> reads, writes;  // what the sandbox lets the host touch
  std::function<void(int fd)> feed;                  // writes the child's stdin on a thread; none: /dev/null
  bool capture_stdout = true;                        // else inherited
  std::function<void(std::string_view)> on_stdout;   // takes stdout as it comes (else it is collected)
  bool forward_signals = false;                      // pass SIGINT/SIGTERM/SIGHUP on (interrupt.hpp)
  double timeout = host_timeout();                   // seconds until the child is killed; 0: none
};

// Run node as `spawn` says, under the sandbox when it is on (and the spawn lists what it reads).
ProcessResult spawn_node(const NodeSpawn& spawn);

// One run of the host on a bundle.
struct HostCall {
  std::string mode;                          // host/protocol.hpp: mode
  std::filesystem::path runtime_dir;         // the Pyodide runtime
  std::filesystem::path bundle_dir;          // mounted at /bundle
  std::filesystem::path cache_dir;           // the host script and the V8 code cache live here
  bool writes_bundle = false;                // what --sandbox allows
  std::vector<std::string> node_flags = {};  // before the script (V8 flags)
};

// The host's command line for `call` and what --sandbox lets it read (its own files, the runtime,
// the bundle) and write (the bundle, only when writes_bundle); the caller adds mode options.
NodeSpawn host_spawn(const HostCall& call);

// The host's answer: the last line of stdout that is a JSON object. Throws pb::Error when the host
// timed out or died without one.
nlohmann::json parse_answer(const ProcessResult& r, const std::string& mode);

// Run the host and return its answer; throws pb::Error (Exit::problems) with the host's error when
// it answered {"ok": false}. Host logs and Python tracebacks go to stderr.
nlohmann::json run_host(const HostCall& call, const std::vector<std::string>& args);

// 300, 2.5: seconds as people write them.
std::string seconds_text(double s);

}  // namespace pb::runtime
