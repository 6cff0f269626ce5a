#include "build/smoke.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include "host/protocol.hpp"
#include "pep508/requirement.hpp"
#include "util/error.hpp"
#include "vendor/copy.hpp"

namespace pb::build {

namespace stdfs = std::filesystem;

namespace {

// Reasons a file is left out that are not trimming: wheel schemes with no place in a bundle.
bool trimming(const std::string& reason) {
  return reason != "scripts" && reason != "headers" && reason != "data" && reason != "signature";
}

// Path under python_modules/ of a dropped wheel entry ("x-1.0.data/purelib/x/a.py" -> "x/a.py").
std::string under_python_modules(const std::string& entry) {
  for (const char* scheme : {".data/purelib/", ".data/platlib/"}) {
    auto pos = entry.find(scheme);
    if (pos != std::string::npos && entry.find('/') > pos) return entry.substr(pos + std::string_view(scheme).size());
  }
  return entry;
}

std::string what(const snapshot::SmokeModule& m) {
  return m.distribution.empty() ? "the entry module '" + m.module + "'"
                                : "module '" + m.module + "' (" + m.distribution + ")";
}

// The failure on one line: app/ files named by their path in the project (`src/notes/store.py:12`),
// then what the host knows of the cause.
std::string failure(const snapshot::SmokeResult& r, const vendor::BundleSpec& spec, bool hint = true) {
  std::string s = r.error + (r.message.empty() ? "" : ": " + r.message);
  std::string file = r.file;
  if (file.starts_with("app/")) file = (stdfs::path(spec.entry).parent_path() / file.substr(4)).generic_string();
  if (!file.empty()) s += " (" + file + (r.line > 0 ? ":" + std::to_string(r.line) : "") + ")";
  return s + (!hint || r.hint.empty() ? "" : "; " + r.hint);
}

std::string list(const std::vector<std::string>& items, size_t max = 5) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < max; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max) out += " and " + std::to_string(items.size() - max) + " more";
  return out;
}

// A file under app/ ("app/config.yaml") that the project has but the bundle left out: why, and
// whether a glob can ship it.
struct LeftOut {
  std::string why;       // "" when the project has no such file either
  bool fixable = false;  // an include or exclude glob decides it (else it is never shipped)
};

// Whether the app file set of `spec` holds `rel` (relative to app/).
bool app_set_has(const vendor::BundleSpec& spec, const std::string& rel) {
  auto plan = vendor::plan_app(spec);
  return std::any_of(plan.items.begin(), plan.items.end(), [&](const vendor::CopyItem& i) { return i.dest == rel; });
}

LeftOut left_out_app_file(const vendor::BundleSpec& spec, const std::string& bundle_path) {
  if (!bundle_path.starts_with("app/")) return {};
  auto rel = bundle_path.substr(4);
  auto in_project = spec.app_dir / stdfs::path(spec.entry).parent_path() / rel;
  std::error_code ec;
  if (!stdfs::is_regular_file(in_project, ec)) return {};
  auto unfiltered = spec;  // the app's files before the include and exclude globs
  unfiltered.include.reset();
  unfiltered.options.exclude.clear();
  LeftOut out;
  if (!app_set_has(unfiltered, rel)) {
    out.why =
        "VCS and dot directories, virtualenvs, caches, build output, python_modules, tests, pyproject.toml "
        "and the locks are never shipped: move it elsewhere in the entry's directory";
  } else {
    out.fixable = true;
    auto without_include = spec;
    without_include.include.reset();
    out.why = spec.include && app_set_has(without_include, rel)
                  ? "no [tool.pybundle] include glob matches it: add one, e.g. include = [..., \"" + rel + "\"]"
                  : "a [tool.pybundle] exclude glob matches it: narrow it";
  }
  out.why = in_project.string() + " is not among the app's files (" + out.why + "; `pybundle plan` lists them)";
  return out;
}

}  // namespace

std::vector<std::string> app_left_out_args(const vendor::BundleSpec& spec, const stdfs::path& staged) {
  std::set<std::string> names;  // sorted: the list ends up in the snapshot's heap
  std::error_code ec;
  auto dir = spec.app_dir / stdfs::path(spec.entry).parent_path();
  for (stdfs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    auto module = name.ends_with(".py") ? name.substr(0, name.size() - 3) : name;
    bool importable = name.ends_with(".py") ? it->is_regular_file(ec) : it->is_directory(ec);
    if (!importable || module.empty() || std::isdigit(static_cast<unsigned char>(module[0])) ||
        !std::all_of(module.begin(), module.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }))
      continue;
    std::error_code missing;
    if (!stdfs::exists(staged / "app" / name, missing)) names.insert(name);
  }
  if (names.empty()) return {};
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
  return {"--app-left-out", list};
}

void fail_on_missing_app_files(const vendor::BundleSpec& spec, const std::vector<std::string>& opened,
                               Reporter& reporter) {
  std::vector<std::string> problems;
  for (const auto& f : opened) {
    auto left = left_out_app_file(spec, f);
    if (left.why.empty()) continue;
    auto line = "the app opens " + f.substr(4) + " while it is imported, but the bundle does not have it: " + left.why;
    // A file no glob can ship (pyproject.toml, a dot file) is the app's own business: a warning.
    if (left.fixable) problems.push_back(line);
    else reporter.warning(line);
  }
  if (!problems.empty()) throw Errors(problems, Exit::problems);
}

std::string BuildSmoke::missing_app_file(const snapshot::SmokeResult& r) const {
  auto why = left_out_app_file(spec_, r.missing_file).why;
  return why.empty() ? "" : "; " + why;
}

BuildSmoke::BuildSmoke(const vendor::BundleSpec& spec, const vendor::Report& report, const stdfs::path& staged,
                       const stdfs::path& runtime_dir, bool snapshot, Context context)
    : spec_(spec), context_(context), staged_(staged), runtime_(runtime_dir) {
  for (const auto& d : report.dropped)
    if (trimming(d.reason)) trimmed_.push_back(d);
  if (trimmed_.empty() && snapshot) return;
  try {
    context_.services.node();
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (the build imports the trimmed bundle in Pyodide; --no-smoke skips that)",
                e.code());
  }
  std::error_code ec;
  if (!stdfs::exists(runtime_ / "pyodide.mjs", ec))
    runtime_ = context_.services.runtime(spec.target.pyodide, context_.cache_dir, false);
  if (!trimmed_.empty()) modules_ = snapshot::vendored_modules(staged_ / "python_modules");
  auto entry = vendor::entry_in_bundle(spec.entry).second;
  if (!entry.empty()) {
    std::erase_if(modules_, [&](const snapshot::SmokeModule& m) { return m.module == entry; });
    modules_.insert(modules_.begin(), {entry, ""});
  }
  if (modules_.empty()) return;
  context_.reporter.info(trimmed_.empty() ? "checking that the entry imports"
                                          : "checking that " + std::to_string(modules_.size()) +
                                                " modules still import after trimming");
  if (snapshot) return;  // the snapshot's process imports them (modules(), take())
  // Without a snapshot nothing else looks the handler up before a deploy: the smoke does.
  auto host_args = app_left_out_args(spec_, staged_);
  if (!entry.empty()) host_args.insert(host_args.end(), {host::kEntry, entry});
  run_ = std::async(std::launch::async, [this, host_args] {
    return context_.services.smoke(staged_, runtime_, snapshot::names(modules_), context_.cache_dir, host_args);
  });
}

BuildSmoke::~BuildSmoke() {
  if (run_ && run_->valid()) run_->wait();
}

void BuildSmoke::finish() {
  if (run_) {
    report_ = run_->get();
    run_.reset();
  }
  if (!report_) return;
  auto report = std::move(*report_);
  report_.reset();
  std::vector<std::string> removed;
  for (const auto& d : trimmed_) removed.push_back(under_python_modules(d.entry));

  struct Suspect {
    size_t index;                  // into modules_ / report.results
    std::vector<size_t> culprits;  // into trimmed_
  };
  std::vector<Suspect> suspects;
  std::vector<std::string> warnings, problems;
  // A failure the trim did not cause: the entry must import (--no-smoke skips that), a vendored
  // module may be an optional part of its distribution.
  auto not_trimming = [&](const snapshot::SmokeModule& m, const snapshot::SmokeResult& r) {
    if (m.distribution.empty())
      problems.push_back(what(m) + " does not import: " + failure(r, spec_) + missing_app_file(r) + "\n" +
                         (traceback_shown_ ? "" : r.traceback) +
                         "(the bundle would not start; --no-smoke skips this check)");
    else warnings.push_back(what(m) + " does not import, not because of trimming: " + failure(r, spec_));
  };
  for (size_t i = 0; i < report.results.size(); ++i) {
    const auto& r = report.results[i];
    if (r.ok) continue;
    if (context_.reporter.details()) {
      auto tb = r.traceback;
      if (tb.ends_with('\n')) tb.pop_back();
      context_.reporter.detail("importing '" + r.module + "' raised:\n" + tb);
    }
    Suspect s{i, {}};
    auto named = snapshot::culprits(r, removed);
    for (size_t k = 0; k < removed.size(); ++k)
      if (std::find(named.begin(), named.end(), removed[k]) != named.end()) s.culprits.push_back(k);
    // A failure that names what is missing, when the trim removed no such thing, is not the trim's.
    if (s.culprits.empty() && (!r.missing_module.empty() || !r.missing_file.empty() || trimmed_.empty()))
      not_trimming(modules_[i], r);
    else suspects.push_back(std::move(s));
  }

  if (!suspects.empty()) {
    // Import the suspects again from the same wheels, untrimmed.
    auto untrimmed_spec = spec_;
    untrimmed_spec.options.trim = false;
    untrimmed_spec.options.exclude.clear();
    untrimmed_spec.out = staged_.parent_path() / ("." + staged_.filename().string() + "-untrimmed");
    std::vector<std::string> names;
    for (const auto& s : suspects) names.push_back(modules_[s.index].module);
    context_.reporter.info("importing " + list(names) + " again without trimming");
    auto untrimmed = vendor::assemble(untrimmed_spec);
    snapshot::SmokeReport again;
    try {
      again = context_.services.smoke(untrimmed, runtime_, names, context_.cache_dir, {});
    } catch (...) {
      std::error_code ec;
      stdfs::remove_all(untrimmed, ec);
      throw;
    }
    std::error_code ec;
    stdfs::remove_all(untrimmed, ec);
    for (size_t j = 0; j < suspects.size(); ++j) {
      const auto& s = suspects[j];
      const auto& m = modules_[s.index];
      const auto& r = report.results[s.index];
      if (!again.results[j].ok) {
        not_trimming(m, r);
        continue;
      }
      std::string line = "trimming breaks " + what(m) + ": " + failure(r, spec_, false);  // says what to keep itself
      if (!s.culprits.empty()) {
        std::vector<std::string> files;
        std::set<std::string> reasons, wheels;
        for (auto k : s.culprits) {
          files.push_back("python_modules/" + removed[k]);
          reasons.insert(trimmed_[k].reason);
          wheels.insert(trimmed_[k].wheel);
        }
        line += "; it needs " + list(files) + ", dropped as " + list({reasons.begin(), reasons.end()}) + " from " +
                list({wheels.begin(), wheels.end()});
        std::string module_dir = r.missing_module;
        std::replace(module_dir.begin(), module_dir.end(), '.', '/');
        std::string glob = !module_dir.empty() && removed[s.culprits[0]].starts_with(module_dir + "/")
                               ? module_dir + "/**"
                               : removed[s.culprits[0]];
        line += "; keep it with --keep '" + glob + "'" +
                (reasons.count("exclude") ? " or narrow [tool.pybundle] exclude" : "");
      } else {
        // Nothing names the file: list what the trim took from the module's distributions.
        std::vector<std::string> files;
        for (size_t k = 0; k < trimmed_.size(); ++k) {
          auto dist = pep508::normalize_name(trimmed_[k].wheel.substr(0, trimmed_[k].wheel.find('-')));
          if (m.distribution.empty() ? removed[k].starts_with(m.module)
                                     : (", " + m.distribution + ",").find(", " + dist + ",") != std::string::npos)
            files.push_back("python_modules/" + removed[k]);
        }
        line += "; it imports untrimmed" + (files.empty() ? std::string() : "; trimmed from it: " + list(files)) +
                "; --keep GLOB keeps a file, --no-trim keeps all";
      }
      problems.push_back(line);
    }
  }
  if (!report.handler_error.empty())
    problems.push_back(report.handler_error + " (run and serve would fail; --no-smoke skips this check)");
  for (const auto& w : warnings) context_.reporter.warning(w);
  if (!problems.empty()) throw Errors(problems, Exit::problems);
  fail_on_missing_app_files(spec_, report.missing_app_files, context_.reporter);
}

}  // namespace pb::build
