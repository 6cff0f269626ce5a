// A Pyodide release as a build target. Every fact is read from the release's own
// pyodide-lock.json (and the runtime files next to it), never from a table here.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pep508/requirement.hpp"
#include "wheel/wheel.hpp"

namespace pb::target {

// A package built by the Pyodide distribution (an entry of pyodide-lock.json "packages").
struct PyodidePackage {
  std::string name;  // as in the lock (normalized for lookups)
  std::string version;
  std::string file_name;  // relative to the distribution's index URL
  std::string sha256;
  std::string package_type;          // "package", "cpython_module" (unvendored stdlib), "shared_library"
  std::string install_dir;           // "site", "stdlib", "dynlib"
  std::vector<std::string> depends;  // normalized names
  std::vector<std::string> imports;  // top-level import names
};

// "pyodide@0.29.3" -> "0.29.3". Throws pb::Error (Exit::usage) for anything else.
std::string parse_target_spec(std::string_view spec);

// The distribution URL a runtime uses by default: the `https://…/v${…}/…/` template literal in
// its pyodide.mjs, with `version` substituted. Empty when there is none.
std::string find_index_url(std::string_view js, std::string_view version);

struct Target {
  std::string pyodide_version;                     // e.g. "0.29.3" (the requested release)
  std::string python_version;                      // full, e.g. "3.13.2"
  std::string abi_version;                         // e.g. "2025_0"
  std::string platform;                            // e.g. "emscripten_4_0_9"
  std::string emscripten_version;                  // e.g. "4.0.9"
  std::string arch;                                // "wasm32"
  std::filesystem::path runtime_dir;               // directory holding pyodide.mjs and pyodide-lock.json
  std::string index_url;                           // where the distribution's own wheels live (ends with '/')
  std::map<std::string, PyodidePackage> packages;  // by normalized name

  // Compatible wheel tags, best first (DESIGN.md).
  std::vector<wheel::Tag> tags() const;
  // Rank of the best tag of `wheel` in tags() (lower is better); nullopt when incompatible.
  std::optional<size_t> rank(const wheel::WheelName& wheel) const;
  // The marker environment of this runtime.
  pep508::Environment environment() const;
  // "3.13"
  std::string python_minor() const;

  // Read <runtime_dir>/pyodide-lock.json. Throws pb::Error naming the file on bad input.
  static Target load(const std::filesystem::path& runtime_dir, const std::string& requested_version);
};

}  // namespace pb::target
