#include "check/runtime_checks.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <regex>

#include "check/bundle_checks.hpp"
#include "check/project_checks.hpp"
#include "host/protocol.hpp"
#include "util/json.hpp"
#include "util/sha256.hpp"

namespace pb::check {

namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

const char* kRebuild = "rebuild with `pybundle build` (or `pybundle snapshot OUT`) using the runtime it will run on";

// A ModuleNotFoundError for a top-level module ("No module named 'ssl'"), not for a submodule of a
// package the bundle has ("pkg.tests", a sign of a broken or over-trimmed package).
bool absent_top_level(const snapshot::SmokeResult& r) {
  std::string name = r.missing_module;
  static const std::string prefix = "No module named '";
  if (name.empty() && r.message.starts_with(prefix) && r.message.back() == '\'')
    name = r.message.substr(prefix.size(), r.message.size() - prefix.size() - 1);
  return !name.empty() && name.find('.') == std::string::npos;
}

// The command that reproduces a failed request, for the bundle as the user named it.
std::string run_command(const stdfs::path& bundle) {
  std::string path = bundle.string();
  bool plain = std::all_of(path.begin(), path.end(),
                           [](unsigned char ch) { return std::isalnum(ch) || std::strchr("/._-+,:@%", ch); });
  if (!plain) {
    std::string quoted = "'";
    for (char ch : path) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    path = quoted + "'";
  }
  return "`pybundle run " + path + "`";
}

}  // namespace

std::pair<std::string, long> traceback_place(const stdfs::path& bundle, const bundle::Manifest& manifest,
                                             const std::string& traceback) {
  static const std::regex frame(R"re(File "([^"]+)", line (\d+))re");
  // The host names app/ files by their project path (bundle.json entry.source's directory).
  auto source = manifest.entry ? manifest.entry->source : "";
  auto dir = stdfs::path(source).parent_path().generic_string();
  std::pair<std::string, long> place{"", 0};
  for (std::sregex_iterator it(traceback.begin(), traceback.end(), frame), end; it != end; ++it) {
    std::string file = (*it)[1].str(), rel;
    if (file.starts_with(std::string(host::kMount) + "/")) {
      rel = file.substr(8);
    } else if (file.starts_with("python_modules/")) {
      rel = file;
    } else if (file.starts_with("/") || file.starts_with("<")) {
      continue;
    } else if (source.empty()) {
      if (file.starts_with("app/")) rel = file;
    } else if (dir.empty()) {
      rel = "app/" + file;
    } else if (file.starts_with(dir + "/")) {
      rel = "app/" + file.substr(dir.size() + 1);
    }
    if (!rel.empty()) place = {shown(bundle, rel), std::stol((*it)[2].str())};
  }
  return place;
}

Check snapshot(const stdfs::path& bundle, const bundle::Manifest& manifest, const runtime::RuntimeInfo& runtime) {
  Check c{.name = "snapshot", .title = "the snapshot matches the bundle and the runtime"};
  if (!manifest.snapshot) {
    c.summary = "no snapshot: every start imports the entry";
    c.add({.severity = Severity::note,
           .code = "no-snapshot",
           .message = "the bundle has no memory snapshot, so cold starts import everything",
           .file = shown(bundle, "bundle.json"),
           .fix = "build without --no-snapshot"});
    return c;
  }
  const auto& facts = *manifest.snapshot;
  std::string name = facts.file_name();  // bundle::parse refused a path
  auto file = bundle / name;
  auto where = shown(bundle, name);
  std::error_code ec;
  if (!stdfs::is_regular_file(file, ec)) {
    c.add({.code = "snapshot-missing",
           .message = "bundle.json lists " + name + ", which is missing",
           .file = where,
           .fix = kRebuild});
    return c;
  }
  auto size = stdfs::file_size(file, ec);
  if (facts.size && *facts.size != size) {
    c.add({.code = "snapshot-changed",
           .message = name + " is " + std::to_string(size) + " bytes, bundle.json says " + std::to_string(*facts.size),
           .file = where,
           .fix = kRebuild});
    return c;
  }
  if (auto sha = facts.sha256.value_or(""); !sha.empty() && sha256_file(file) != sha) {
    c.add({.code = "snapshot-changed",
           .message = name + " does not have the sha256 bundle.json gives",
           .file = where,
           .fix = kRebuild});
    return c;
  }
  snapshot::SnapshotHeader header;
  try {
    header = snapshot::read_header(file);
  } catch (const Error& e) {
    c.add({.code = "snapshot-invalid", .message = e.what(), .file = where, .fix = kRebuild});
    return c;
  }
  if (auto reason = snapshot::stale_reason(header, bundle, manifest, runtime); !reason.empty()) {
    c.add(
        {.code = "snapshot-stale", .message = name + " cannot be restored: " + reason, .file = where, .fix = kRebuild});
    return c;
  }
  c.metrics["bytes"] = size;
  if (header.meta.contains("heap_size")) c.metrics["heap_bytes"] = header.meta["heap_size"];
  if (header.meta.contains("modules") && header.meta["modules"].is_array())
    c.metrics["modules"] = header.meta["modules"].size();
  c.summary = name + " (" + human_size(size) + ") made by Pyodide " + runtime.version + " for this bundle";
  return c;
}

Check entry(const stdfs::path& bundle, const bundle::Manifest& manifest, const json& answer) {
  Check c{.name = "entry", .title = "the entry imports and defines a handler (on_fetch or Default.fetch)"};
  std::string module = manifest.entry ? manifest.entry->module : "";
  if (module.empty()) {
    c.add({.code = "no-entry",
           .message = "bundle.json names no entry module",
           .file = shown(bundle, "bundle.json"),
           .fix = "set [tool.pybundle] entry and rebuild"});
    return c;
  }
  // The handler was called: the entry loaded and its handler was found.
  if (answer.contains("response")) {
    bool workers = answer.value("entry_style", "on_fetch") == "workers";
    c.metrics["style"] = workers ? "workers" : "on_fetch";
    c.summary = workers ? module + ".Default.fetch found (Cloudflare Workers style: class Default(WorkerEntrypoint))"
                        : module + ".on_fetch found (module-level on_fetch style)";
    return c;
  }
  std::string error = answer.value("error", "the JavaScript host failed");
  auto [file, line] = traceback_place(bundle, manifest, answer.value("traceback", ""));
  if (answer.contains("module")) {  // the host names the module whose import failed
    c.add({.code = "import-error",
           .message = error,
           .file = file,
           .line = line,
           .fix = "fix the error (the traceback is on stderr); " + run_command(bundle) + " reproduces it"});
  } else if (error.find("defines no on_fetch") != std::string::npos) {
    c.add({.code = "no-on-fetch",
           .message = error,
           .file = manifest.entry->path.empty() ? "" : shown(bundle, manifest.entry->path),
           .fix = "define `def on_fetch(request):` (or `async def`) in the entry module, or "
                  "`class Default(WorkerEntrypoint):` with `async def fetch(self, request):` (from workers import "
                  "WorkerEntrypoint)"});
  } else {
    c.add({.code = "entry-error", .message = error, .file = file, .line = line});
  }
  return c;
}

Check request(const stdfs::path& bundle, const bundle::Manifest& manifest, const json& answer) {
  Check c{.name = "request", .title = "the bundle restores and answers one request"};
  const bool has_snapshot = manifest.snapshot.has_value();
  const bool restored = answer.value("restored", false);
  int status = 0;
  if (answer.contains("response") && answer["response"].is_object()) status = answer["response"].value("status", 0);
  c.metrics["status"] = status == 0 ? json(nullptr) : json(status);
  c.metrics["restored"] = restored;
  if (answer.contains("timings_ms") && answer["timings_ms"].is_object()) {
    const auto& t = answer["timings_ms"];
    if (t.contains("runtime_ready")) c.metrics["ready_ms"] = t["runtime_ready"];
    if (t.contains("handler")) c.metrics["handler_ms"] = t["handler"];
  }
  if (answer.contains("process_ms")) c.metrics["process_ms"] = answer["process_ms"];

  if (!answer.value("ok", false)) {
    auto [file, line] = traceback_place(bundle, manifest, answer.value("traceback", ""));
    std::string error = answer.value("error", "the JavaScript host failed");
    c.add({.code = "request-failed",
           .message = error,
           .file = file,
           .line = line,
           .fix = "the traceback is on stderr; " + run_command(bundle) + " reproduces it"});
    return c;
  }
  if (status >= 500) {
    c.add({.code = "request-failed", .message = "on_fetch answered GET / with status " + std::to_string(status)});
    return c;
  }
  if (has_snapshot && !restored)
    c.add({.severity = Severity::warning,
           .code = "snapshot-not-restored",
           .message = "the bundle has a snapshot but the request was served without restoring it" +
                      (answer.contains("note") ? ": " + answer.value("note", "") : std::string())});
  c.summary = "GET / answered " + std::to_string(status) +
              (restored ? " from the restored snapshot" : " after importing the entry");
  if (c.metrics.contains("ready_ms")) c.summary += ", ready in " + c.metrics["ready_ms"].dump() + " ms";
  return c;
}

Check smoke(const stdfs::path& bundle, const std::vector<snapshot::SmokeModule>& modules,
            const snapshot::SmokeReport& report, bool entry_reported) {
  Check c{.name = "smoke", .title = "the entry and every vendored top-level module import"};
  size_t warnings = 0;
  for (size_t i = 0; i < report.results.size(); ++i) {
    const auto& r = report.results[i];
    if (r.ok) continue;
    const std::string dist = i < modules.size() ? modules[i].distribution : "";
    const bool is_entry = i < modules.size() && dist.empty();
    if (is_entry && entry_reported) continue;
    std::string what = is_entry ? "the entry module '" + r.module + "'" : "module '" + r.module + "' (" + dist + ")";
    std::string message = what + " does not import: " + r.error + (r.message.empty() ? "" : ": " + r.message);
    Finding f{.code = "module-import-error", .message = message};
    if (r.file.starts_with("python_modules/") || r.file.starts_with("app/")) {
      f.file = shown(bundle, r.file);
      f.line = r.line;
    } else if (!r.file.empty()) {
      f.message += " (at " + r.file + ":" + std::to_string(r.line) + ")";
    }
    if (!is_entry && r.error == "ModuleNotFoundError" && absent_top_level(r)) {
      f.severity = Severity::warning;
      f.code = "module-needs-absent";
      f.fix = "harmless unless the app imports " + r.module +
              "; it needs a top-level module the bundle does not "
              "have (an optional dependency, a compiled extension, or a stdlib module Pyodide ships separately)";
      ++warnings;
    } else {
      const bool missing = r.error.ends_with("ImportError") || r.error == "ModuleNotFoundError" ||
                           r.error == "FileNotFoundError" || !r.missing_file.empty();
      // The host's hint names the file trimming dropped and the --keep glob, as the build's does.
      f.fix = !r.hint.empty() ? r.hint + "; `pybundle check --bundle OUT -v` prints the traceback"
                              : std::string(missing ? "a file it needs may be missing (trimmed by the build? "
                                                      "`pybundle build --keep GLOB` keeps it); "
                                                    : "") +
                                    "`pybundle check --bundle OUT -v` prints the traceback";
    }
    c.add(std::move(f));
  }
  size_t ok = report.results.size() - report.failed();
  c.metrics["modules"] = report.results.size();
  c.metrics["failed"] = report.failed();
  c.metrics["process_ms"] = report.process_ms;
  if (report.timings.is_object() && report.timings.contains("imports"))
    c.metrics["imports_ms"] = report.timings["imports"];
  c.summary = std::to_string(ok) + " of " + std::to_string(report.results.size()) + " modules imported " +
              (report.after_request.empty()         ? "in a fresh Pyodide"
               : report.after_request == "restored" ? "after the request, in the Pyodide restored from the snapshot"
                                                    : "after the request, in the Pyodide that imported the entry");
  if (warnings)
    c.summary += ", " + std::to_string(warnings) + (warnings == 1 ? " needs" : " need") +
                 " a top-level module the bundle does not have";
  return c;
}

}  // namespace pb::check
