#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pb {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;     // captured stdout (stderr is passed through unless captured)
  std::string err;     // captured stderr when capture_stderr
};

struct ProcessOptions {
  std::optional<std::filesystem::path> cwd;
  std::map<std::string, std::string> env;  // added to / overriding the inherited environment
  bool capture_stdout = true;
  bool capture_stderr = false;
};

// Find an executable on PATH; empty when absent.
std::filesystem::path find_program(const std::string& name);

// Run argv (argv[0] is looked up on PATH) and wait. Throws pb::Error (Exit::io) if it cannot start.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& options = {});

}  // namespace pb
