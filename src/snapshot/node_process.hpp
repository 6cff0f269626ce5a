// Running the embedded JavaScript host in a Node.js child process.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace pb::snapshot {

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

struct NodeResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;  // killed after NodeSpawn::timeout
  double timeout = 0;
  std::string out;
};

// Fork and exec node (it dies with us: PR_SET_PDEATHSIG), feed stdin, collect stdout, wait.
// Throws pb::Error (Exit::io) when it cannot start, or with the feeder's error.
NodeResult spawn_node(const NodeSpawn& spawn);

// Write all of `data` to fd; false when the reader went away.
bool write_all(int fd, const char* data, size_t size);

}  // namespace pb::snapshot
