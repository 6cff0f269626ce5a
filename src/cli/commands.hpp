// What each command takes, and the function that runs it (in cmd_<name>.cpp). flags.cpp, the one
// file that includes CLI11, fills these from the command line and calls run_<name> from the
// command's callback: CLI11 costs ~5 s of CPU in each file that includes it (release build).
#pragma once
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "build/build.hpp"
#include "build/planning.hpp"

namespace pb::cli {

// Parses the command line and runs the command; returns the exit status (man/pybundle.1 EXIT STATUS).
int run(int argc, char** argv);

struct BuildOptions {
  build::BuildRequest request;
  std::string compile;  // "", "true" (a bare --compile), "keep-sources", "drop-sources"
  bool no_snapshot = false, no_smoke = false, no_trim = false;
};
void run_build(BuildOptions options);

void run_cache_dir();
void run_cache_clean();
void run_cache_prune(int days);

void run_plan(const build::PlanOptions& options);

void run_why(const std::string& package, const build::PlanOptions& options);

// run and serve's --var: a worker's self.env over bundle.json "vars".
using Vars = std::map<std::string, std::string>;

struct RunArgs {
  std::string bundle;
  bool no_snapshot = false;
  bool allow_stale = false;
  std::string url = "http://localhost/";
  Vars vars;
};
void run_run(const RunArgs& args);

struct ServeArgs {
  std::string bundle;
  bool no_snapshot = false;
  bool allow_stale = false;
  std::string host = "127.0.0.1";
  int port = 8787;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  uint64_t max_body = uint64_t(100) << 20;
  Vars vars;
};
void run_serve(const ServeArgs& args);

struct SnapshotArgs {
  std::string bundle;
  std::vector<std::string> preimport;
  int level = 12;
  std::optional<uint32_t> hash_seed;
};
void run_snapshot(const SnapshotArgs& args);

struct CheckOptions {
  build::PlanOptions plan;
  std::optional<std::filesystem::path> bundle;
  std::optional<std::string> size_budget;  // --size-budget
  std::vector<std::string> skip;
  bool dir_given = false;
};
// Every check's name, the project's first: what --skip accepts.
const std::vector<std::string>& check_names();
void run_check(const CheckOptions& options);

// The command line as the completion scripts need it, read from CLI11 by flags.cpp.
struct CompletionOption {
  std::vector<std::string> names;  // "--format", "-q"
  std::string help;
  bool takes_value = false;
  std::vector<std::string> choices;  // from IsMember / CheckedTransformer validators
};
struct CompletionCommand {
  std::vector<std::string> path;  // {"cache", "prune"}; empty for the program itself
  std::string help;
  std::vector<CompletionOption> options;
};
void run_completions(const std::string& shell, const std::vector<CompletionCommand>& commands);

void run_self_check();

struct ExportArgs {
  std::filesystem::path bundle;
  std::filesystem::path out;
  std::string name;
  std::string compatibility_date;
};
void run_export(const ExportArgs& args);

struct InspectArgs {
  std::filesystem::path bundle;
  std::optional<std::string> size_budget;
  bool shrink = false;
};
void run_inspect(const InspectArgs& args);

}  // namespace pb::cli
