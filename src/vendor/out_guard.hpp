// What `build --out` may replace: nothing of the user's, only an empty directory or an earlier bundle.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

namespace pb::vendor {

struct OutGuard {
  std::filesystem::path project_dir;  // refused, with its ancestors
  std::filesystem::path app_dir;      // the app's sources (the entry's directory): nothing inside
  std::filesystem::path cache_dir;    // refused, with its ancestors and everything inside
  std::filesystem::path home;         // $HOME, refused with its ancestors (empty: not checked)
};

// Why `out` must not be replaced, or nothing when it is absent, an empty directory, or a bundle
// (a directory whose bundle.json is a pybundle manifest of schema 1 listing every file in it).
std::optional<std::string> out_refusal(const std::filesystem::path& out, const OutGuard& guard);

// `dir` is a directory a build wrote (out_refusal's "an earlier bundle"): the app's walk leaves it out.
bool is_bundle(const std::filesystem::path& dir);

// `inner` is `outer` or lies below it, symbolic links resolved.
bool is_within(const std::filesystem::path& inner, const std::filesystem::path& outer);

// Throws pb::Error (Exit::usage) "--out PATH: <why>" when out_refusal finds a reason.
void check_out(const std::filesystem::path& out, const OutGuard& guard);

}  // namespace pb::vendor
