// The whole build of a bundle: plan -> fetch -> vendor -> minimise/compile -> smoke -> snapshot ->
// archive -> swap into place. Like ninja's Builder: what to build (BuildRequest), the side effects
// (Services), where output goes (Reporter). The CLI turns flags into a request and prints the result.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "build/planning.hpp"
#include "build/reporter.hpp"
#include "build/services.hpp"
#include "bundle/manifest.hpp"
#include "vendor/shrink.hpp"

namespace pb::build {

struct BuildRequest {
  // The project, target and selection; plan.cache_dir is the build's cache, plan.offline its --offline.
  PlanOptions plan;
  std::filesystem::path out;   // empty: <project>/dist
  std::filesystem::path home;  // $HOME, never replaced by --out (empty: not checked)
  bool snapshot = true;        // make snapshot.bin.zst
  std::optional<uint32_t> hash_seed;
  bool smoke = true;  // import the entry (and a trimmed bundle's modules) in Pyodide
  int concurrency = 16;
  uint64_t max_download = uint64_t(1) << 30;
  std::vector<std::string> mirrors;           // "FROM=TO" (--mirror), after [tool.pybundle] mirrors
  std::filesystem::path ca_file, netrc_file;  // empty: fetch's defaults
  std::vector<std::string> keep;              // globs never trimmed
  bool trim = true;
  std::filesystem::path archive;  // also write the bundle as this .tar.zst or .zip
  int64_t source_date_epoch = 0;  // every archive entry's mtime ($SOURCE_DATE_EPOCH)
  vendor::CompileMode compile = vendor::CompileMode::none;
  bool minimize = false;
};

struct BuildResult {
  std::filesystem::path out;
  std::string pyodide;  // the target's version
  size_t packages = 0;  // plan items
  size_t files = 0;     // in the bundle
  uint64_t bytes = 0;
  std::optional<bundle::Snapshot> snapshot;  // bundle.json "snapshot"
  double seconds = 0;
};

// Throws pb::Error / pb::Errors (with the exit code of man/pybundle.1) on any failure; then the
// staged directory is gone and --out (and --archive) are as they were.
BuildResult build(const BuildRequest& request, const Services& services, Reporter& reporter);

// bundle.json snapshot.recipe: what the snapshot was made from, so `pybundle snapshot` remakes it alike.
bundle::Recipe snapshot_recipe(const std::string& entry_module, const std::vector<std::string>& preimport,
                               const std::string& pyodide, uint32_t hash_seed);

}  // namespace pb::build
