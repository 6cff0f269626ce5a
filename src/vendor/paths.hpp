// Path rules of the vendor stage: which archive names are safe, globs, default trimming.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/fs.hpp"

namespace pb::vendor {

using fs::valid_utf8;

// Why an archive entry name is unsafe to extract (absolute, "..", backslash, control
// characters, not UTF-8, ...), or nullopt when it is a clean relative path. A trailing '/'
// (directory entry) is allowed.
std::optional<std::string> unsafe_name(std::string_view name);

// A name as an error message shows it: control characters as \xNN, at most 160 bytes (the middle
// elided), so a hostile name cannot flood the terminal or forge a line.
std::string shown_name(std::string_view name);

// ASCII case folding, enough to catch names that collide on case-insensitive filesystems.
std::string fold_case(std::string_view s);

// Shell-style glob: '*' and '?' stay within one path component, '**' spans components
// ("**/" also matches nothing), "[a-z]" / "[!a-z]" classes.
bool glob_match(std::string_view pattern, std::string_view path);

// A user glob against a bundle path: a pattern without '/' is tried on every component;
// one with '/' on the path and on each of its parent directories. `path` is tried both as
// given ("python_modules/pkg/x.py") and relative to its top folder ("pkg/x.py").
bool glob_hits(std::string_view pattern, std::string_view path);
bool any_glob_hits(const std::vector<std::string>& patterns, std::string_view path);

// Default trimming of a file under python_modules/ (path relative to it): the reason it is
// dropped ("__pycache__", "bytecode", "stubs", "tests", "docs"), or empty to keep it.
// `has_source` tells whether a .py file sits next to a .pyc of the same name.
std::string trim_reason(std::string_view path, bool has_source);

}  // namespace pb::vendor
