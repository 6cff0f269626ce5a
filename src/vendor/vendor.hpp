// Turn verified wheels and the app into a bundle directory.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace pb::vendor {

struct Input {
  std::string name, version, origin;  // origin: "lock-wheel", "pyodide", "source"
  std::string filename, sha256;       // the wheel (empty for source)
  std::filesystem::path file;         // verified wheel file, or source directory
};

struct BundleSpec {
  std::filesystem::path out;          // final bundle directory
  std::filesystem::path app_dir;      // project directory holding the entry
  std::string entry;                  // entry path relative to app_dir, e.g. "src/app.py"
  nlohmann::json target;              // target facts for the manifest
  std::vector<Input> inputs;
};

// Assemble the bundle in a temporary directory next to `out` and return it (the caller
// adds the snapshot, then commits with pb::fs::replace_dir).
std::filesystem::path assemble(const BundleSpec& spec);

// Re-write bundle.json's file list of a staged bundle (after adding files).
void write_manifest(const std::filesystem::path& staged, const BundleSpec& spec);

}  // namespace pb::vendor
