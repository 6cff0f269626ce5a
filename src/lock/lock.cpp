#include "lock/lock.hpp"

#include <algorithm>

#include "lock/toml_reader.hpp"
#include "project/project.hpp"

namespace pb::lock {

std::string to_string(SourceKind kind) {
  switch (kind) {
    case SourceKind::registry: return "registry";
    case SourceKind::git: return "git";
    case SourceKind::url: return "url";
    case SourceKind::path: return "path";
    case SourceKind::directory: return "directory";
    case SourceKind::editable: return "editable";
    case SourceKind::virtual_: return "virtual";
  }
  return "unknown";
}

std::string Artifact::sha256() const {
  constexpr std::string_view prefix = "sha256:";
  if (hash.size() != prefix.size() + 64 || hash.compare(0, prefix.size(), prefix) != 0) return {};
  std::string hex = hash.substr(prefix.size());
  for (char& c : hex) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!std::isxdigit(static_cast<unsigned char>(c))) return {};
  }
  return hex;
}

std::vector<const Package*> Lock::find(const std::string& name) const {
  std::vector<const Package*> out;
  for (const auto& p : packages)
    if (p.name == name) out.push_back(&p);
  return out;
}

std::string Lock::where(const Package& package) const {
  std::string shown = project::display_path(file);
  return package.line > 0 ? shown + ":" + std::to_string(package.line) : shown;
}

std::string Lock::relock() const {
  return format == Format::pylock ? "write " + file.filename().string() +
                                        " again (`uv export --format pylock.toml`, or the tool that wrote it)"
                                  : "run `uv lock`";
}

namespace detail {

std::string file_name_of(std::string_view s) {
  if (auto cut = s.find_first_of("?#"); cut != std::string_view::npos) s = s.substr(0, cut);
  if (auto slash = s.find_last_of('/'); slash != std::string_view::npos) s = s.substr(slash + 1);
  return std::string(s);
}

}  // namespace detail

namespace {

bool is_pylock_name(const std::string& name) {
  // PEP 751: pylock.toml or pylock.<name>.toml
  return name == "pylock.toml" ||
         (name.rfind("pylock.", 0) == 0 && name.size() > 12 && name.compare(name.size() - 5, 5, ".toml") == 0);
}

}  // namespace

Lock load_for_project(const std::filesystem::path& dir, const std::optional<std::filesystem::path>& explicit_file) {
  if (explicit_file) {
    auto st = std::filesystem::status(*explicit_file);  // a pipe too: --lock <(uv export ...)
    if (!std::filesystem::is_regular_file(st) && !std::filesystem::is_fifo(st))
      throw Error(project::display_path(*explicit_file) + ": lock file not found", Exit::usage);
    return is_pylock_name(explicit_file->filename().string()) ? load_pylock(*explicit_file) : load_uv(*explicit_file);
  }
  if (auto uv = dir / "uv.lock"; std::filesystem::is_regular_file(uv)) return load_uv(uv);
  if (auto pylock = dir / "pylock.toml"; std::filesystem::is_regular_file(pylock)) return load_pylock(pylock);
  throw Error("no uv.lock or pylock.toml in " + project::display_path(dir.empty() ? "." : dir) +
                  ": run `uv lock` there to create one (or pass --lock FILE)",
              Exit::usage);
}

}  // namespace pb::lock
