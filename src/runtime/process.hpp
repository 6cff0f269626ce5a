// Starting child processes: the one fork/exec of pybundle (Node.js hosts, npm, version probes).
#pragma once
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pb::runtime {

struct Spawn {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up on PATH
  std::optional<std::filesystem::path> cwd = {};
  std::map<std::string, std::string> env = {};           // added to / overriding the inherited environment
  bool only_env = false;                                 // the child gets `env` alone, nothing inherited
  std::function<void(int fd)> feed = {};                 // writes the child's stdin on a thread; none: /dev/null
  bool capture_stdout = true;                            // else inherited
  bool capture_stderr = false;                           // else inherited
  std::function<void(std::string_view)> on_stdout = {};  // takes stdout as it comes (else it is collected)
  bool forward_signals = false;                          // pass SIGINT/SIGTERM/SIGHUP on (interrupt.hpp)
  double timeout = 0;                                    // seconds until the child is killed; 0: none
};

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  bool timed_out = false;  // killed after Spawn::timeout
  double timeout = 0;
  std::string out, err;  // what was captured
};

// Find an executable on PATH (a name with a slash is taken as it is); empty when absent.
std::filesystem::path find_program(const std::string& name);

// Fork and exec (the child dies with us: PR_SET_PDEATHSIG), feed stdin, collect the captured
// streams, wait. Throws pb::Error (Exit::io) when it cannot start, or with the feeder's error.
ProcessResult spawn(const Spawn& spawn);

}  // namespace pb::runtime
