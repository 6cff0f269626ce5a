#include "vendor/out_guard.hpp"

#include <algorithm>
#include <set>

#include "bundle/manifest.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "vendor/paths.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

stdfs::path real(const stdfs::path& p) {
  std::error_code ec;
  auto r = stdfs::weakly_canonical(stdfs::absolute(p, ec), ec);
  return ec ? stdfs::absolute(p).lexically_normal() : r;
}

// `inner` is `outer` or lies below it (both canonical).
bool within(const stdfs::path& inner, const stdfs::path& outer) {
  auto rel = inner.lexically_relative(outer);
  return !rel.empty() && *rel.begin() != "..";
}

// A directory a build wrote: bundle.json is a manifest of schema 1, and every file in the directory
// is one it lists, the manifest itself, the snapshot it lists and its import times, or Python's bytecode cache
// (running the bundle may write that). Anything else is the user's: nullopt names the first.
std::optional<std::string> not_a_bundle(const stdfs::path& dir) {
  std::error_code ec;
  auto file = dir / bundle::kFile;
  const std::string no_manifest =
      "is a directory that is neither empty nor a pybundle bundle (no bundle.json of schema 1)";
  if (!stdfs::is_regular_file(stdfs::symlink_status(file, ec)) || stdfs::file_size(file, ec) > (64u << 20))
    return no_manifest;
  bundle::Manifest m;
  try {
    m = bundle::parse(fs::read_file(file));  // schema 1, or it throws
  } catch (const Error&) {
    return no_manifest;
  }
  if (std::find(m.missing.begin(), m.missing.end(), "files") != m.missing.end()) return no_manifest;
  std::set<std::string> ours = {bundle::kFile};
  if (m.snapshot) ours.insert({m.snapshot->file_name(), bundle::kImportTimes});
  for (const auto& f : m.files) ours.insert(f.path);
  for (auto it = stdfs::recursive_directory_iterator(dir, ec); !ec && it != stdfs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_directory(ec) && !it->is_symlink(ec)) continue;
    auto rel = it->path().lexically_relative(dir);
    bool bytecode = false;
    for (const auto& part : rel) bytecode = bytecode || part == "__pycache__";
    if (!bytecode && !ours.contains(rel.generic_string()))
      return "holds " + rel.string() + ", which its bundle.json does not list (a file pybundle did not write)";
  }
  if (ec) return "cannot be read: " + ec.message();
  return std::nullopt;
}

}  // namespace

bool is_bundle(const stdfs::path& dir) {
  std::error_code ec;
  return stdfs::is_regular_file(dir / bundle::kFile, ec) && !not_a_bundle(dir);
}

bool is_within(const stdfs::path& inner, const stdfs::path& outer) {
  return within(real(inner), real(outer));
}

std::optional<std::string> out_refusal(const stdfs::path& out, const OutGuard& guard) {
  auto o = real(out);
  if (o == o.root_path()) return "is the root directory";
  // Node.js, which makes the snapshot and runs the bundle, reads its argv as UTF-8.
  if (!valid_utf8(o.string())) return "is a path that is not valid UTF-8, which Node.js cannot open";
  // Reasons by what `out` would wipe: [is it, contains it].
  struct Place {
    const stdfs::path& path;
    const char* is;
    const char* contains;
  };
  for (auto [path, is, contains] :
       {Place{guard.home, "is your home directory", "contains your home directory"},
        Place{guard.project_dir, "is the project directory", "contains the project directory"},
        Place{guard.cache_dir, "is the cache directory", "contains the cache directory"}}) {
    if (path.empty()) continue;
    auto p = real(path);
    if (o == p) return is;
    if (within(p, o)) return std::string(contains) + " " + p.string();
  }
  if (!guard.cache_dir.empty() && within(o, real(guard.cache_dir)))
    return "is inside the cache directory " + real(guard.cache_dir).string();
  if (!guard.app_dir.empty() && within(o, real(guard.app_dir)))
    return "is inside the app's sources " + real(guard.app_dir).string() + ", which the bundle copies";

  std::error_code ec;
  auto st = stdfs::symlink_status(out, ec);
  if (ec || st.type() == stdfs::file_type::not_found) return std::nullopt;
  if (st.type() == stdfs::file_type::symlink) return "is a symbolic link";
  if (st.type() != stdfs::file_type::directory) return "exists and is not a directory";
  if (stdfs::is_empty(out, ec) && !ec) return std::nullopt;
  return not_a_bundle(out);
}

void check_out(const stdfs::path& out, const OutGuard& guard) {
  if (auto why = out_refusal(out, guard))
    throw Error("--out " + out.string() + ": " + *why + "; it may replace only an empty directory or an earlier bundle",
                Exit::usage);
}

}  // namespace pb::vendor
