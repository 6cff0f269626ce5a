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
  std::string value;  // registry URL or path, git URL, url, or path
};

struct Dependency {
  std::string name;  // normalized
  std::optional<std::string> version;  // disambiguates a name locked twice
  std::optional<Source> source;
  std::vector<std::string> extras;     // normalized
  std::string marker;                  // PEP 508 marker text, empty = always
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
  std::string name;  // normalized
  std::string version;  // empty for dynamic/virtual without a version
  Source source;
  std::vector<Dependency> dependencies;
  std::map<std::string, std::vector<Dependency>> optional_dependencies;  // extra -> deps
  std::map<std::string, std::vector<Dependency>> dev_dependencies;       // group -> deps
  std::optional<Artifact> sdist;
  std::vector<Artifact> wheels;
  std::string resolution_marker;  // pylock: the package's marker
  // [package.metadata]
  std::optional<std::vector<std::string>> requires_dist;  // PEP 508 strings
  std::map<std::string, std::vector<std::string>> requires_dev;
  std::vector<std::string> provides_extras;
  long line = 0;  // where the [[package]] table starts
};

// A conflict set: items that must not be chosen together.
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
  std::vector<Package> packages;

  // All packages with this normalized name (more than one when forked by markers).
  std::vector<const Package*> find(const std::string& name) const;
};

// Throws pb::Error (Exit::usage) with file:line for malformed input or unsupported versions.
Lock load_uv(const std::filesystem::path& file);
Lock load_pylock(const std::filesystem::path& file);
// uv.lock in `dir`, else pylock.toml; `explicit_file` wins when given.
Lock load_for_project(const std::filesystem::path& dir, const std::optional<std::filesystem::path>& explicit_file = {});

}  // namespace pb::lock
