#include "build/planning.hpp"

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "fetch/cache.hpp"
#include "fetch/fetch.hpp"
#include "fetch/source.hpp"
#include "pep508/requirement.hpp"
#include "runtime/runtime.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "vendor/copy.hpp"
#include "wheel/wheel.hpp"

namespace pb::build {

namespace {

// The npm package's own version, when the directory is one ("package.json").
std::optional<std::string> runtime_version(const std::filesystem::path& dir) {
  auto pkg = dir / "package.json";
  if (!std::filesystem::exists(pkg)) return std::nullopt;
  try {
    auto doc = nlohmann::json::parse(fs::read_file(pkg));
    if (doc.contains("version") && doc["version"].is_string()) return doc["version"].get<std::string>();
  } catch (const std::exception&) {}
  return std::nullopt;
}

class MetadataSource {
 public:
  MetadataSource(const lock::Lock& lock, const project::Config& config, const PlanOptions& options, Reporter& reporter)
      : lock_(lock),
        mirrors_(config.mirrors),
        fetch_(options.fetch_metadata),
        cache_(options.cache_dir),
        reporter_(reporter) {}

  std::optional<std::vector<std::string>> operator()(const std::string& name, const std::string& version) {
    auto key = name + "==" + version;
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    auto result = lookup(name, version);
    memo_[key] = result;
    return result;
  }

 private:
  std::optional<std::vector<std::string>> lookup(const std::string& name, const std::string& version) {
    const lock::Package* pkg = nullptr;
    for (const auto* p : lock_.find(name))
      if (p->version == version) pkg = p;
    if (!pkg || pkg->wheels.empty()) return std::nullopt;
    // Every wheel of a release normally carries the same Requires-Dist: try the smallest first.
    std::vector<const lock::Artifact*> wheels;
    for (const auto& w : pkg->wheels)
      if (!w.sha256().empty()) wheels.push_back(&w);
    std::sort(wheels.begin(), wheels.end(),
              [](const auto* a, const auto* b) { return a->size.value_or(~0ull) < b->size.value_or(~0ull); });
    auto meta_dir = cache_ / "metadata";
    for (const auto* w : wheels) {
      auto sha = w->sha256();
      auto stored = meta_dir / (sha + ".METADATA");
      if (std::filesystem::exists(stored)) return wheel::parse_metadata(fs::read_file(stored)).requires_dist;
      fetch::Cache cache(cache_);
      if (cache.has(sha))
        if (auto m = wheel::read_wheel_metadata(cache.entry(sha))) return m->requires_dist;
    }
    if (!fetch_ || wheels.empty()) return std::nullopt;
    const auto* w = wheels.front();
    auto stored = meta_dir / (w->sha256() + ".METADATA");
    fetch::Options options;
    options.cache_dir = cache_;
    options.mirrors = mirrors_;
    options.base_dir = lock_.file.parent_path();
    if (!w->url.empty()) {
      auto url = fetch::apply_mirrors(w->url, mirrors_);
      reporter_.info("reading " + name + " " + version + " METADATA (" + fetch::redact_url(url) + ".metadata)");
      auto text = fetch::get(w->url + ".metadata", options);
      if (text && text->find("Metadata-Version") != std::string::npos) {
        store(stored, *text);
        return wheel::parse_metadata(*text).requires_dist;
      }
    }
    // No PEP 658 file: the wheel itself, verified against the lock's hash and kept in the cache.
    try {
      auto files = fetch::fetch_all({{w->url.empty() ? w->path : w->url, w->sha256(), w->size, name}}, options);
      if (auto m = wheel::read_wheel_metadata(files.front())) return m->requires_dist;
    } catch (const Error& e) {
      reporter_.warning(std::string("could not read the METADATA of ") + name + " " + version + ": " + e.what());
    }
    return std::nullopt;
  }

  static void store(const std::filesystem::path& file, const std::string& text) {
    try {
      std::filesystem::create_directories(file.parent_path());
      fs::write_file_atomic(file, text);
    } catch (const std::exception&) {
      // A read-only cache only costs a download next time.
    }
  }

  const lock::Lock& lock_;
  std::vector<std::pair<std::string, std::string>> mirrors_;
  bool fetch_;
  std::filesystem::path cache_;
  Reporter& reporter_;
  std::map<std::string, std::optional<std::vector<std::string>>> memo_;
};

}  // namespace

std::optional<std::string> find_entry(const project::Project& project) {
  if (project.config.entry) return *project.config.entry;
  for (const char* guess : {"src/app.py", "src/main.py", "app.py", "main.py"})
    if (std::filesystem::is_regular_file(project.dir / guess)) return guess;
  return std::nullopt;
}

AppFiles app_files(const project::Project& project, const std::filesystem::path& out) {
  AppFiles a;
  auto entry = find_entry(project);
  if (!entry) return a;
  vendor::BundleSpec spec;
  spec.out = out.empty() ? project.dir / "dist" : out;
  spec.app_dir = project.dir;
  spec.entry = a.entry = *entry;
  spec.include = project.config.include;
  spec.options.exclude = project.config.exclude;
  auto copy = vendor::plan_app(spec);
  for (const auto& item : copy.items) {
    a.files.push_back("app/" + item.dest);
    std::error_code ec;
    auto size = std::filesystem::file_size(item.src, ec);
    if (!ec) a.bytes += size;
  }
  a.problems = copy.problems;
  return a;
}

target::Target resolve_target(const project::Project& project, const PlanOptions& o) {
  std::string spec = !o.target.empty()       ? o.target
                     : !o.env_target.empty() ? o.env_target
                                             : project.config.target.value_or(o.default_target);
  std::string version;
  try {
    version = target::parse_target_spec(spec);
  } catch (const Error& e) {
    // Say where a target the command line did not give came from.
    if (o.target.empty() && !o.env_target.empty())
      throw Error(std::string("$PYBUNDLE_TARGET: ") + e.what(), Exit::usage);
    if (o.target.empty() && project.config.target)
      throw Error(project::display_path(project.file) + ": [tool.pybundle] target: " + e.what(), Exit::usage);
    throw;
  }
  std::filesystem::path dir;
  if (o.runtime) {
    if (auto v = runtime_version(*o.runtime); v && *v != version)
      throw Error("--runtime " + o.runtime->string() + " is Pyodide " + *v + ", not " + version, Exit::usage);
    dir = *o.runtime;
  } else {
    // $PYBUNDLE_PYODIDE_DIR when it holds this version, else the npm package in the cache.
    dir = runtime::ensure_runtime(version, o.cache_dir, o.offline);
  }
  auto t = target::Target::load(dir, version);
  if (project.config.pyodide_index) t.index_url = *project.config.pyodide_index;
  return t;
}

plan::Context make_context(const lock::Lock& lock, const project::Config& config, const PlanOptions& options,
                           Reporter& reporter) {
  plan::Context ctx;
  auto source = std::make_shared<MetadataSource>(lock, config, options, reporter);
  ctx.requires_dist = [source](const std::string& name, const std::string& version) {
    return (*source)(name, version);
  };
  ctx.fetches_metadata = options.fetch_metadata;
  ctx.local_project = [](const std::filesystem::path& dir) {
    plan::LocalProject local;
    local.exists = std::filesystem::is_directory(dir);
    auto file = dir / "pyproject.toml";
    if (local.exists && std::filesystem::exists(file)) {
      try {
        auto p = project::load_file(file);
        local.build_backend = p.build_backend;
        local.build_requires = p.build_requires;
      } catch (const Error&) {
        // A member's broken pyproject.toml is not this plan's business; uv reports it.
      }
    }
    return local;
  };
  return ctx;
}

namespace {

// uv locks a workspace at its root: from a member's directory, find the root above whose
// members include it (nullopt when there is none).
std::optional<std::filesystem::path> workspace_root_of(const std::filesystem::path& dir) {
  auto here = std::filesystem::weakly_canonical(std::filesystem::absolute(dir));
  for (auto up = here.parent_path(); !up.empty(); up = up.parent_path()) {
    if (std::filesystem::exists(up / "uv.lock") && std::filesystem::exists(up / "pyproject.toml")) {
      try {
        auto root = project::load(up);
        for (const auto& m : root.members)
          if (std::filesystem::weakly_canonical(m.dir) == here) return up;
      } catch (const Error&) {}
      return std::nullopt;  // the nearest lock above is not our workspace
    }
    if (up == up.parent_path()) break;
  }
  return std::nullopt;
}

}  // namespace

plan::Selection selection_for(const project::Project& project, const PlanOptions& o) {
  auto s = o.selection;
  auto names_dev = [](const std::vector<std::string>& groups) {
    return std::any_of(groups.begin(), groups.end(),
                       [](const std::string& g) { return pep508::normalize_name(g) == "dev"; });
  };
  if (!o.dev && !names_dev(s.groups) && !names_dev(s.only_groups)) s.no_dev = true;
  for (const auto& m : project.config.stdlib)
    if (std::find(s.stdlib.begin(), s.stdlib.end(), m) == s.stdlib.end()) s.stdlib.push_back(m);
  return s;
}

std::vector<std::string> check_lock_fresh(const project::Project& project, const lock::Lock& lock,
                                          const PlanOptions& o) {
  if (o.frozen) return {};
  auto stale = plan::check_freshness(project, lock);
  if (stale.empty()) return stale;
  std::vector<std::string> lines;
  for (const auto& d : stale) lines.push_back(project::display_path(lock.file) + " is out of date: " + d);
  lines.push_back("the lock does not match pyproject.toml: " + lock.relock() + " (or --frozen to use it as it is)");
  throw Errors(lines, Exit::problems);
}

Planned run_plan(const PlanOptions& options, Reporter& reporter) {
  PlanOptions o = options;
  Planned out;
  out.project = project::load(o.dir);
  bool has_lock = std::filesystem::exists(o.dir / "uv.lock") || std::filesystem::exists(o.dir / "pylock.toml");
  if (!o.lock_file && !has_lock && out.project.has_project_table) {
    if (auto root = workspace_root_of(o.dir)) {
      // As `uv sync` in a member's directory: the workspace's lock, with this member as the root.
      if (o.selection.packages.empty() && !o.selection.all_packages) o.selection.packages = {out.project.name};
      reporter.info("using the workspace lock in " + project::display_path(*root) + " for member " + out.project.name);
      o.dir = *root;
      auto member_config = out.project.config;  // the member's [tool.pybundle] (entry, target) is the app's
      out.project = project::load(o.dir);
      out.project.config = member_config;
    }
  }
  out.lock = lock::load_for_project(o.dir, o.lock_file);
  out.stale = check_lock_fresh(out.project, out.lock, o);
  out.checked = !o.frozen;
  out.target = resolve_target(out.project, o);
  out.selection = selection_for(out.project, o);
  out.plan = plan::make_plan(out.project, out.lock, out.target, out.selection,
                             make_context(out.lock, out.project.config, o, reporter));
  return out;
}

}  // namespace pb::build
