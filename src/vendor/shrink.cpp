#include "vendor/shrink.hpp"

#include <algorithm>
#include <system_error>

#include "host/protocol.hpp"
#include "util/error.hpp"
#include "vendor/paths.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

constexpr std::string_view kModules = "python_modules/";

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}
bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// Regular files under staged/top, as bundle paths, sorted; with their total size.
std::vector<std::string> list_files(const stdfs::path& staged, const std::string& top, uint64_t* bytes = nullptr) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!stdfs::exists(staged / top, ec)) return out;
  for (stdfs::recursive_directory_iterator it(staged / top, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    out.push_back(it->path().lexically_relative(staged).generic_string());
    if (bytes) *bytes += it->file_size(ec);
  }
  if (ec) throw Error("cannot list " + (staged / top).string() + ": " + ec.message(), Exit::io);
  std::sort(out.begin(), out.end());
  return out;
}

void remove_file(const stdfs::path& file) {
  std::error_code ec;
  if (!stdfs::remove(file, ec) || ec)
    throw Error("cannot remove " + file.string() + ": " + (ec ? ec.message() : "not found"), Exit::io);
}

// Directories left empty by removals, deepest first.
void remove_empty_dirs(const stdfs::path& root) {
  std::vector<stdfs::path> dirs;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec)) dirs.push_back(it->path());
  std::sort(dirs.begin(), dirs.end(), [](const stdfs::path& a, const stdfs::path& b) { return a > b; });
  for (const auto& d : dirs)
    if (stdfs::is_empty(d, ec)) stdfs::remove(d, ec);
}

std::vector<std::string> strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& v : j[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

// The dropped files a failed import most likely needed: those under the missing module's
// directory (ImportError.name), else under the failing module's top-level package.
std::vector<std::string> suspects(const std::vector<std::string>& dropped, const std::string& module,
                                  const std::string& missing_module, const std::string& missing_file) {
  std::vector<std::string> out;
  if (!missing_file.empty()) {  // a dropped file, or a directory the drop emptied
    for (const auto& d : dropped)
      if (d == missing_file || starts_with(d, missing_file + "/")) out.push_back(d);
    if (!out.empty()) return out;
  }
  auto under = [&](std::string dotted) {
    std::replace(dotted.begin(), dotted.end(), '.', '/');
    std::string dir = std::string(kModules) + dotted;
    for (const auto& d : dropped)
      if (starts_with(d, dir + "/") || starts_with(d, dir + ".")) out.push_back(d);
  };
  if (!missing_module.empty()) under(missing_module);
  if (out.empty()) under(module.substr(0, module.find('.')));
  return out;
}

std::string listing(const std::vector<std::string>& files) {
  constexpr size_t shown = 5;
  std::vector<std::string> head(files.begin(), files.begin() + static_cast<long>(std::min(files.size(), shown)));
  std::string out = join(head, ", ");
  if (files.size() > shown) out += " and " + std::to_string(files.size() - shown) + " more";
  return out;
}

// Every bundle module the traced run imported must import again, each in the same fresh
// runtime (host mode `smoke`); then the entry must answer one request (host mode `run`).
void prove(const MinimizeSpec& spec, const MinimizeReport& report, const HostRun& host) {
  std::vector<std::string> problems;
  auto answer = host(host::kSmoke, {host::kModules, join(report.modules, ",")});
  for (const auto& r : answer.value("modules", nlohmann::json::array())) {
    if (r.value("ok", false)) continue;
    auto module = r.value("module", std::string("?"));
    std::string line = "minimized bundle: importing '" + module + "' fails: " + r.value("error", std::string("error")) +
                       ": " + r.value("message", std::string());
    auto files = suspects(report.dropped, module, r.value("missing_module", std::string()),
                          r.value("missing_file", std::string()));
    if (!files.empty()) line += "; dropped: " + listing(files);
    else line += "; " + std::to_string(report.dropped.size()) + " files were dropped";
    problems.push_back(line + " (keep files with --keep GLOB)");
  }
  if (problems.empty()) {
    std::vector<std::string> args{host::kEntry, spec.entry};
    if (!spec.preimport.empty()) args.insert(args.end(), {host::kPreimport, join(spec.preimport, ",")});
    try {
      host(host::kRun, args);
    } catch (const Error& e) {
      problems.push_back("minimized bundle: the entry no longer answers a request: " + std::string(e.what()) + "; " +
                         std::to_string(report.dropped.size()) + " files were dropped (keep files with --keep GLOB)");
    }
  }
  if (!problems.empty()) throw Errors(std::move(problems), Exit::problems);
}

}  // namespace

CompileMode parse_compile_mode(std::string_view text) {
  if (text == "keep-sources") return CompileMode::keep_sources;
  if (text == "drop-sources") return CompileMode::drop_sources;
  throw Error("--compile: '" + std::string(text) + "' is not keep-sources or drop-sources", Exit::usage);
}

CompileReport compile_bundle(const stdfs::path& staged, CompileMode mode, const std::string& python,
                             const HostRun& host) {
  CompileReport report;
  if (mode == CompileMode::none) return report;
  auto answer = host(host::kCompile,
                     {"--placement", mode == CompileMode::drop_sources ? "legacy" : "pycache", "--python", python});
  report.magic = answer.value("magic", "");
  report.python = answer.value("python", "");
  for (const auto& f : answer.value("failed", nlohmann::json::array()))
    report.warnings.push_back(f.value("file", std::string("?")) + ": does not compile (" +
                              f.value("error", std::string()) + "); the source is kept as it is");
  for (const auto& c : answer.value("compiled", nlohmann::json::array())) {
    auto file = c.value("file", std::string());
    auto pyc = c.value("pyc", std::string());
    std::error_code ec;
    if (file.empty() || pyc.empty() || !stdfs::is_regular_file(staged / pyc, ec))
      throw Error("compile: the runtime reported '" + pyc + "' for '" + file + "', which is not there", Exit::internal);
    ++report.compiled;
    if (mode == CompileMode::drop_sources && starts_with(file, kModules)) {
      remove_file(staged / file);
      ++report.sources_dropped;
    }
  }
  return report;
}

std::vector<std::string> minimize_drops(const std::vector<std::string>& files, const std::set<std::string>& traced,
                                        const std::vector<std::string>& keep) {
  std::set<std::string> used_dirs;
  for (const auto& t : traced) used_dirs.insert(t.substr(0, t.rfind('/') + 1));
  auto is_code = [](std::string_view f) {
    return ends_with(f, ".py") || ends_with(f, ".pyc") || ends_with(f, ".so") ||
           f.find(".so.") != std::string_view::npos;
  };
  std::vector<std::string> out;
  for (const auto& f : files) {
    if (!starts_with(f, kModules) || traced.count(f)) continue;
    if (!is_code(f) && used_dirs.count(f.substr(0, f.rfind('/') + 1))) continue;
    std::string_view rel = std::string_view(f).substr(kModules.size());
    auto slash = rel.find('/');
    if (slash != std::string_view::npos && ends_with(rel.substr(0, slash), ".dist-info")) continue;
    if (any_glob_hits(keep, f)) continue;
    out.push_back(f);
  }
  std::sort(out.begin(), out.end());
  return out;
}

MinimizeReport minimize_bundle(const stdfs::path& staged, const MinimizeSpec& spec, const HostRun& host) {
  MinimizeReport report;
  std::vector<std::string> trace_args{host::kEntry, spec.entry};
  if (!spec.preimport.empty()) trace_args.insert(trace_args.end(), {host::kPreimport, join(spec.preimport, ",")});
  nlohmann::json answer;
  try {
    answer = host(host::kTrace, trace_args);
  } catch (const Error& e) {
    throw Error("--minimize: tracing the entry failed before anything was dropped: " + std::string(e.what()), e.code());
  }
  auto traced_list = strings(answer, "files");
  std::set<std::string> traced(traced_list.begin(), traced_list.end());
  report.modules = strings(answer, "bundle_modules");

  auto files = list_files(staged, "python_modules", &report.bytes_before);
  report.files_before = files.size();
  report.dropped = minimize_drops(files, traced, spec.keep);
  std::error_code ec;
  uint64_t dropped_bytes = 0;
  for (const auto& d : report.dropped) {
    dropped_bytes += stdfs::file_size(staged / d, ec);
    remove_file(staged / d);
  }
  remove_empty_dirs(staged / "python_modules");
  report.files_kept = report.files_before - report.dropped.size();
  report.bytes_kept = report.bytes_before - dropped_bytes;
  if (spec.after_drop) spec.after_drop();
  prove(spec, report, host);
  return report;
}

}  // namespace pb::vendor
