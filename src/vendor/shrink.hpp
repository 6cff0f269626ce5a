// Smaller bundles: bytecode made by the target runtime (--compile), and minimisation to the files
// the app uses, traced in the runtime and proved there (--minimize). Both work on a staged bundle
// before its manifest is written; the runtime is reached through a HostRun.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "nlohmann/json.hpp"

namespace pb::vendor {

// Runs one mode of the JavaScript host with the staged bundle mounted: (mode, extra arguments)
// -> its JSON answer. Throws pb::Error with the host's message when the answer is not ok.
using HostRun = std::function<nlohmann::json(const std::string& mode, const std::vector<std::string>& args)>;

enum class CompileMode { none, keep_sources, drop_sources };

// "keep-sources" / "drop-sources"; throws pb::Error (Exit::usage) for anything else.
CompileMode parse_compile_mode(std::string_view text);

struct CompileReport {
  size_t compiled = 0;                // .pyc written
  size_t sources_dropped = 0;         // .py removed (drop-sources)
  std::string magic;                  // the runtime's importlib MAGIC_NUMBER, hex
  std::string python;                 // the runtime's Python version
  std::vector<std::string> warnings;  // sources that do not compile; they stay as they are
};

// Precompile every .py under python_modules/ and app/ in the runtime (host mode `compile`),
// failing when its Python is not `python` (the target's). python_modules/ gets unchecked-hash
// .pyc: in __pycache__ (keep-sources), or as `mod.pyc` next to the module with the source removed
// (drop-sources). app/ keeps its sources (tracebacks show the app's lines) and gets checked-hash
// .pyc in __pycache__, so an edited app file is never shadowed by stale bytecode.
CompileReport compile_bundle(const std::filesystem::path& staged, CompileMode mode, const std::string& python,
                             const HostRun& host);

// What minimisation keeps of python_modules/: the traced files, data files (anything but .py,
// .pyc, .so) in a directory holding a traced file (data read after the traced request, such as
// certifi's cacert.pem, stays), every file of a top-level *.dist-info directory (metadata for
// importlib.metadata), and files matching `keep` globs.
// Takes and returns bundle paths ("python_modules/pkg/mod.py"); returns the dropped ones, sorted.
std::vector<std::string> minimize_drops(const std::vector<std::string>& files, const std::set<std::string>& traced,
                                        const std::vector<std::string>& keep);

struct MinimizeSpec {
  std::string entry;                   // entry module
  std::vector<std::string> preimport;  // imported with it
  std::vector<std::string> keep;       // globs never dropped (--keep)
  // Runs after the drop and before the proof (e.g. compile_bundle), so the proof covers it.
  std::function<void()> after_drop;
};

struct MinimizeReport {
  size_t files_before = 0, files_kept = 0;
  uint64_t bytes_before = 0, bytes_kept = 0;
  std::vector<std::string> dropped;  // bundle paths
  std::vector<std::string> modules;  // bundle modules imported by the traced run, proved importable
};

// Trace the entry's import and one request (host mode `trace`), drop the untouched files of
// python_modules/, then prove the result in fresh runtimes: every bundle module the traced run
// imported imports again, and the entry answers one request. A failed proof throws pb::Error
// (Exit::problems) naming the module and the dropped files under its package.
MinimizeReport minimize_bundle(const std::filesystem::path& staged, const MinimizeSpec& spec, const HostRun& host);

}  // namespace pb::vendor
