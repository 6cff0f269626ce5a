// Copying the project's own modules (app/) and source packages (python_modules/).
#pragma once
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "vendor/vendor.hpp"

namespace pb::vendor {

struct CopyItem {
  std::filesystem::path src;
  std::string dest;  // relative to the tree (app/ or python_modules/)
};

struct CopyPlan {
  std::string label;                                           // for messages
  std::vector<CopyItem> items;                                 // sorted by dest
  std::vector<std::pair<std::string, std::string>> generated;  // dest, content
  std::vector<Dropped> dropped;
  std::vector<std::string> problems;
};

// app/: the entry's directory tree, the same for every layout: with `spec.include`, the entry, the
// directory's modules and packages and the files matching an include glob; without, every file.
// Never VCS or dot directories, virtualenvs (venv/, any directory with pyvenv.cfg), caches
// (__pycache__, node_modules), build output (build/, dist/, *.egg-info, the bundle itself),
// python_modules/, tests/ or test/, nor pyproject.toml and the locks. A symbolic link anywhere on
// the way (the entry's directories included) must stay inside the project.
CopyPlan plan_app(const BundleSpec& spec);

// A source package's modules and packages for python_modules/ (where its build backend's static
// configuration puts them, else its src/ or the directory; backend.hpp), with a .dist-info
// (METADATA, and a RECORD listing every file before trimming) so importlib.metadata finds it;
// trimmed like a wheel.
CopyPlan plan_source(const Input& input, const BundleSpec& spec);

// Copies the items (never overwriting) and writes the generated files under `root`.
void run_copy(const CopyPlan& plan, const std::filesystem::path& root, std::vector<std::string>& problems);

// The manifest's entry: {"path": "app/app.py", "module": "app"}, or null without an entry.
std::pair<std::string, std::string> entry_in_bundle(const std::string& entry);

}  // namespace pb::vendor
