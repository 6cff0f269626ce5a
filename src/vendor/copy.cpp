#include "vendor/copy.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_set>

#include "util/error.hpp"
#include "util/interrupt.hpp"
#include "vendor/backend.hpp"
#include "vendor/out_guard.hpp"
#include "vendor/paths.hpp"
#include "vendor/wrangler.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

bool never_copied(const std::string& name) {
  static const std::set<std::string> names = {"__pycache__",    "venv",    "node_modules",
                                              "pyproject.toml", "uv.lock", "pylock.toml"};
  return name.empty() || name[0] == '.' || names.count(name) > 0;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Directories that are never part of an app (plan_app). An earlier bundle or export (`--out`
// anywhere in a flat layout's tree) would otherwise ship inside the next bundle.
bool not_app(const stdfs::path& dir, const std::string& name) {
  static const std::set<std::string> names = {"venv", "build", "dist", "python_modules", "tests", "test"};
  std::error_code ec;
  return names.count(name) > 0 || ends_with(name, ".egg-info") || stdfs::exists(dir / "pyvenv.cfg", ec) ||
         is_bundle(dir) || is_export(dir);
}

struct Walker {
  CopyPlan& plan;
  stdfs::path project;             // symlinks must stay inside it
  std::set<stdfs::path> skip;      // the bundle's own output, if it lies inside
  std::set<stdfs::path> visiting;  // directory loops through symlinks
  bool app = false;                // leave out what is never part of an app (not_app)

  // Type of `path` after following a symlink that stays inside the project.
  stdfs::file_type resolve(const stdfs::path& path, const std::string& shown) {
    std::error_code ec;
    auto st = stdfs::symlink_status(path, ec);
    if (ec) {
      plan.problems.push_back(plan.label + ": cannot read " + path.string() + ": " + ec.message());
      return stdfs::file_type::none;
    }
    if (st.type() != stdfs::file_type::symlink) return st.type();
    auto target = stdfs::weakly_canonical(path, ec);
    auto rel = target.lexically_relative(project);
    if (ec || rel.empty() || *rel.begin() == "..") {
      plan.problems.push_back(plan.label + ": '" + shown + "' is a symbolic link leading outside " + project.string());
      return stdfs::file_type::none;
    }
    return stdfs::status(path, ec).type();
  }

  void dir(const stdfs::path& abs, const std::string& rel) {
    std::error_code ec;
    auto canon = stdfs::canonical(abs, ec);
    if (ec || skip.count(canon) || !visiting.insert(canon).second) return;
    std::vector<stdfs::path> children;
    for (stdfs::directory_iterator it(abs, ec), end; !ec && it != end; it.increment(ec)) children.push_back(it->path());
    if (ec) plan.problems.push_back(plan.label + ": cannot list " + abs.string() + ": " + ec.message());
    std::sort(children.begin(), children.end());
    for (const auto& child : children) {
      auto name = child.filename().string();
      if (never_copied(name)) continue;
      auto child_rel = rel.empty() ? name : rel + "/" + name;
      if (app && stdfs::is_directory(child, ec) && not_app(child, name)) continue;
      add(child, child_rel);
    }
    visiting.erase(canon);
  }

  void add(const stdfs::path& abs, const std::string& rel) {
    if (auto why = unsafe_name(rel)) {
      plan.problems.push_back(plan.label + ": '" + rel + "': " + *why);
      return;
    }
    switch (resolve(abs, rel)) {
      case stdfs::file_type::directory: dir(abs, rel); break;
      case stdfs::file_type::regular: plan.items.push_back({abs, rel}); break;
      case stdfs::file_type::none: break;
      default: plan.problems.push_back(plan.label + ": '" + rel + "' is not a regular file or directory");
    }
  }

  // A directory's *.py modules and its packages (directories with __init__.py); with `include`
  // (setuptools find patterns), only the names one of them matches.
  void modules_of(const stdfs::path& root, const std::set<std::string>& skip_files,
                  const std::vector<std::string>& include = {}) {
    std::error_code ec;
    std::vector<stdfs::path> children;
    for (stdfs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
      children.push_back(it->path());
    if (ec) plan.problems.push_back(plan.label + ": cannot list " + root.string() + ": " + ec.message());
    std::sort(children.begin(), children.end());
    for (const auto& child : children) {
      auto name = child.filename().string();
      if (never_copied(name) || skip_files.count(name)) continue;
      if (!include.empty() && std::none_of(include.begin(), include.end(), [&](const std::string& pattern) {
            auto top = pattern.substr(0, pattern.find('.'));  // "pkg.*" names pkg's subpackages
            return ::fnmatch(top.c_str(), stdfs::path(name).stem().c_str(), 0) == 0;
          }))
        continue;
      if (ends_with(name, ".py") && stdfs::is_regular_file(child, ec)) add(child, name);
      else if (stdfs::is_directory(child, ec) && stdfs::is_regular_file(child / "__init__.py", ec)) add(child, name);
    }
  }
};

void sort_items(CopyPlan& plan) {
  std::sort(plan.items.begin(), plan.items.end(), [](const CopyItem& a, const CopyItem& b) { return a.dest < b.dest; });
}

std::set<stdfs::path> output_paths(const BundleSpec& spec) {
  std::set<stdfs::path> out;
  std::error_code ec;
  auto canon = stdfs::weakly_canonical(spec.out, ec);
  if (!ec) out.insert(canon);
  return out;
}

// Drops items by the user's globs (and, for python_modules/, the default trimming).
void trim(CopyPlan& plan, const std::string& tree, const Options& options, bool defaults) {
  std::unordered_set<std::string> dests;
  for (const auto& item : plan.items) dests.insert(item.dest);
  std::vector<CopyItem> kept;
  for (auto& item : plan.items) {
    const std::string bundle_path = tree + "/" + item.dest;
    std::string reason;
    if (defaults && options.trim) {
      bool has_source = ends_with(item.dest, ".pyc") && dests.count(item.dest.substr(0, item.dest.size() - 1));
      reason = trim_reason(item.dest, has_source);
    }
    if (reason.empty() && any_glob_hits(options.exclude, bundle_path)) reason = "exclude";
    if (!reason.empty() && any_glob_hits(options.keep, bundle_path)) reason.clear();
    if (reason.empty()) {
      kept.push_back(std::move(item));
    } else {
      std::error_code ec;
      auto size = stdfs::file_size(item.src, ec);
      plan.dropped.push_back({plan.label, item.dest, reason, ec ? 0 : size});
    }
  }
  plan.items = std::move(kept);
}

}  // namespace

std::pair<std::string, std::string> entry_in_bundle(const std::string& entry) {
  auto name = stdfs::path(entry).filename();
  return {"app/" + name.string(), name.stem().string()};
}

CopyPlan plan_app(const BundleSpec& spec) {
  CopyPlan plan;
  plan.label = "app";
  if (spec.entry.empty()) return plan;
  if (auto why = unsafe_name(spec.entry); why || spec.entry.back() == '/') {
    plan.problems.push_back("entry '" + spec.entry + "': " + (why ? *why : "not a file"));
    return plan;
  }
  auto entry_file = spec.app_dir / spec.entry;
  std::error_code ec;
  if (!stdfs::is_regular_file(entry_file, ec)) {
    plan.problems.push_back("entry '" + spec.entry + "': no such file in " + spec.app_dir.string());
    return plan;
  }
  if (!ends_with(spec.entry, ".py")) {
    plan.problems.push_back("entry '" + spec.entry + "': not a Python module (.py)");
    return plan;
  }
  auto project = stdfs::weakly_canonical(spec.app_dir, ec);
  Walker walker{plan, project, output_paths(spec), {}, true};
  // The symlink rule holds for the entry's own directories and file too (src -> /elsewhere).
  stdfs::path walked;
  for (const auto& part : stdfs::path(spec.entry)) {
    walked /= part;
    if (walker.resolve(spec.app_dir / walked, walked.string()) == stdfs::file_type::none) return plan;
  }
  auto entry_dir = stdfs::path(spec.entry).parent_path();
  auto entry_name = stdfs::path(spec.entry).filename().string();
  walker.dir(spec.app_dir / entry_dir, "");
  if (spec.include) {
    // The entry's package (its directory's modules and packages) and the include globs.
    std::vector<CopyItem> kept;
    for (auto& item : plan.items) {
      auto top = item.dest.substr(0, item.dest.find('/'));
      bool module = item.dest == entry_name ||
                    (item.dest.find('/') == std::string::npos && ends_with(item.dest, ".py")) ||
                    (top != item.dest && stdfs::is_regular_file(spec.app_dir / entry_dir / top / "__init__.py", ec));
      if (module || any_glob_hits(*spec.include, item.dest)) kept.push_back(std::move(item));
    }
    plan.items = std::move(kept);
  }
  sort_items(plan);
  trim(plan, "app", spec.options, false);
  return plan;
}

CopyPlan plan_source(const Input& input, const BundleSpec& spec) {
  CopyPlan plan;
  plan.label = input.name;
  std::error_code ec;
  if (!stdfs::is_directory(input.file, ec)) {
    plan.problems.push_back(input.name + ": source directory " + input.file.string() + " not found");
    return plan;
  }
  Walker walker{plan, stdfs::weakly_canonical(input.file, ec), output_paths(spec), {}};
  // Where the build backend's configuration puts the modules, else src/ or the directory itself.
  auto backend = backend_modules(input.file, input.name);
  for (const auto& p : backend.problems) plan.problems.push_back(input.name + ": " + p);
  auto root = stdfs::is_directory(input.file / "src", ec) ? input.file / "src" : input.file;
  if (backend.configured()) {
    for (const auto& m : backend.modules) walker.add(m.src, m.dest);
    for (const auto& r : backend.roots) walker.modules_of(r, {"setup.py", "conftest.py"}, backend.include);
  } else if (backend.problems.empty()) {
    walker.modules_of(root, {"setup.py", "conftest.py"});
  }
  if (plan.items.empty() && plan.problems.empty())
    plan.problems.push_back(
        input.name + ": no Python modules or packages in " + (backend.configured() ? input.file : root).string() +
        (backend.backend.empty() ? ""
                                 : " where its " + backend.backend + " configuration in pyproject.toml puts them") +
        ", and pybundle does not run build backends: build the directory into a wheel first (`uv build --wheel " +
        input.file.string() + "`) and depend on the wheel");
  sort_items(plan);
  std::vector<std::string> untrimmed;
  for (const auto& item : plan.items) untrimmed.push_back(item.dest);
  trim(plan, "python_modules", spec.options, true);

  std::string dist;  // PEP 427 escaping of the name in a .dist-info directory
  for (char c : input.name) {
    bool sep = c == '-' || c == '_' || c == '.';
    if (sep && !dist.empty() && dist.back() == '_') continue;
    dist += sep ? '_' : static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  auto info = dist + "-" + input.version + ".dist-info";
  plan.generated.emplace_back(info + "/METADATA",
                              "Metadata-Version: 2.1\nName: " + input.name + "\nVersion: " + input.version + "\n");
  // RECORD lists what its wheel would hold, trimmed files too (as a wheel's RECORD does), so the
  // host can say a missing module was trimmed and importlib.metadata finds the files.
  std::string record;
  auto row = [&record](const std::string& path) {
    if (path.find_first_of(",\"\n") == std::string::npos) {
      record += path + ",,\n";
      return;
    }
    std::string quoted = "\"";
    for (char c : path) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    record += quoted + "\",,\n";
  };
  for (const auto& d : untrimmed) row(d);
  row(info + "/METADATA");
  row(info + "/RECORD");
  plan.generated.emplace_back(info + "/RECORD", record);
  return plan;
}

void run_copy(const CopyPlan& plan, const stdfs::path& root, std::vector<std::string>& problems) {
  auto fail = [&](const std::string& dest, const std::string& why) {
    problems.push_back(plan.label + ": '" + dest + "': " + why);
  };
  auto write = [&](const std::string& dest, const char* data, size_t size, const stdfs::path* from) {
    interrupt::throw_if_interrupted();
    auto path = root / dest;
    std::error_code ec;
    stdfs::create_directories(path.parent_path(), ec);
    if (ec) return fail(dest, "cannot create " + path.parent_path().string() + ": " + ec.message());
    int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) return fail(dest, "cannot create " + path.string() + ": " + std::strerror(errno));
    int in = from ? ::open(from->c_str(), O_RDONLY | O_CLOEXEC) : -1;
    std::string error;
    if (from && in < 0) error = "cannot read " + from->string() + ": " + std::strerror(errno);
    char buf[1 << 16];
    while (error.empty()) {
      ssize_t n = 0;
      const char* p = data;
      if (from) {
        n = ::read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) error = "cannot read " + from->string() + ": " + std::strerror(errno);
        p = buf;
      } else {
        n = static_cast<ssize_t>(size);
        size = 0;
      }
      if (n <= 0) break;
      while (n > 0 && error.empty()) {
        ssize_t w = ::write(out, p, static_cast<size_t>(n));
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) error = "cannot write " + path.string() + ": " + std::strerror(errno);
        p += w, n -= w;
      }
    }
    if (in >= 0) ::close(in);
    if (::close(out) != 0 && error.empty()) error = "cannot write " + path.string() + ": " + std::strerror(errno);
    if (!error.empty()) fail(dest, error);
  };
  for (const auto& item : plan.items) write(item.dest, nullptr, 0, &item.src);
  for (const auto& [dest, content] : plan.generated) write(dest, content.data(), content.size(), nullptr);
}

}  // namespace pb::vendor
