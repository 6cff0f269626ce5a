// One model for uv.lock and pylock.toml (PEP 751).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pb::lock {

enum class SourceKind { registry, git, url, path, directory, editable, virtual_ };
std::string to_string(SourceKind kind);

struct Source {
  SourceKind kind = SourceKind::registry;
  std::string value;       // registry URL or path, git URL, url, or path
  bool is_local() const {  // a project directory on disk (vendored from source)
    return kind == SourceKind::directory || kind == SourceKind::editable || kind == SourceKind::virtual_;
  }
  bool operator==(const Source&) const = default;
};

struct Dependency {
  std::string name;                    // normalized
  std::optional<std::string> version;  // disambiguates a name locked twice
  std::optional<Source> source;
  std::vector<std::string> extras;  // normalized
  std::string marker;               // PEP 508 marker text, empty = always
};

struct Artifact {
  std::string url;       // remote location, or
  std::string path;      // relative to the lock file's directory (or absolute)
  std::string filename;  // file name (from url/path when not given)
  std::string hash;      // "sha256:<hex>" as written
  std::optional<uint64_t> size;
  std::string sha256() const;  // lowercase hex, empty when the hash is not sha256
};

struct Package {
  std::string name;     // normalized
  std::string version;  // empty for dynamic/virtual without a version
  Source source;
  std::vector<Dependency> dependencies;
  std::map<std::string, std::vector<Dependency>> optional_dependencies;  // extra -> deps
  std::map<std::string, std::vector<Dependency>> dev_dependencies;       // group -> deps
  std::optional<Artifact> sdist;
  std::vector<Artifact> wheels;
  std::string resolution_marker;                // pylock: the package's marker
  std::vector<std::string> resolution_markers;  // uv: the forks this version was locked for
  // [package.metadata]
  std::optional<std::vector<std::string>> requires_dist;  // PEP 508 strings
  std::map<std::string, std::vector<std::string>> requires_dev;
  std::vector<std::string> provides_extras;
  long line = 0;  // where the [[package]] table starts
};

// A conflict set: items that must not be chosen together. Neither extra nor group: the
// package's own (production) dependencies.
struct ConflictItem {
  std::string package;
  std::optional<std::string> extra, group;
};

enum class Format { uv, pylock };

struct Lock {
  std::filesystem::path file;
  Format format = Format::uv;
  int version = 1;
  int revision = 0;
  std::string requires_python;
  std::vector<std::string> resolution_markers, supported_markers, required_markers;
  std::vector<std::vector<ConflictItem>> conflicts;
  std::vector<std::string> members;  // [manifest] members (normalized)
  // [manifest]: requirements of a non-project root, constraints, overrides (PEP 508 strings).
  std::vector<std::string> requirements, constraints, overrides;
  std::map<std::string, std::vector<std::string>> dependency_groups;  // non-project root groups
  // pylock.toml: the extras and groups the lock covers, and the default groups.
  std::vector<std::string> pylock_extras, pylock_groups, pylock_default_groups;
  std::vector<Package> packages;
  std::vector<std::string> warnings;  // e.g. a newer revision than we know

  // All packages with this normalized name (more than one when forked by markers).
  std::vector<const Package*> find(const std::string& name) const;
  // "uv.lock:LINE" for messages about a package.
  std::string where(const Package& package) const;
  // How to make this lock again: "run `uv lock`", or for a pylock.toml, export it again.
  std::string relock() const;
};

// Throws pb::Error (Exit::usage) with file:line for malformed input or unsupported versions.
Lock load_uv(const std::filesystem::path& file);
Lock load_pylock(const std::filesystem::path& file);
// Parse text as if read from `file`.
Lock parse_uv(std::string_view text, const std::filesystem::path& file);
Lock parse_pylock(std::string_view text, const std::filesystem::path& file);
// uv.lock in `dir`, else pylock.toml; `explicit_file` wins when given (a file named
// pylock*.toml is read as PEP 751, anything else as uv.lock).
Lock load_for_project(const std::filesystem::path& dir, const std::optional<std::filesystem::path>& explicit_file = {});

}  // namespace pb::lock
