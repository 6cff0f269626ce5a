// `pybundle inspect --shrink`: --minimize and --compile=drop-sources done on copies of the bundle
// with the build's own code (vendor/shrink), so the figures are what those options would ship.
#include <algorithm>
#include <set>
#include <utility>

#include "check/inspect.hpp"
#include "host/protocol.hpp"
#include "runtime/host.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"
#include "vendor/shrink.hpp"
#include "vendor/wrangler.hpp"

namespace pb::check {

namespace stdfs = std::filesystem;

namespace {

bool uploaded(const std::string& rel) {
  return rel.starts_with("app/") || rel.starts_with("python_modules/");
}

// The uploaded files now under `dir`, as bundle paths.
std::vector<std::string> upload_files(const stdfs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const char* top : {"app", "python_modules"}) {
    if (!stdfs::exists(dir / top, ec)) continue;
    for (stdfs::recursive_directory_iterator it(dir / top, ec), end; !ec && it != end; it.increment(ec))
      if (it->is_regular_file(ec)) out.push_back(it->path().lexically_relative(dir).generic_string());
    if (ec) throw Error("cannot list " + (dir / top).string() + ": " + ec.message(), Exit::io);
  }
  // In bundle.json's order, as the bundle itself is measured: the gzip size depends on the order.
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t gzip_of(const stdfs::path& dir, const std::vector<std::string>& rels, const std::set<std::string>& skip = {}) {
  std::vector<stdfs::path> paths;
  for (const auto& r : rels)
    if (!skip.count(r)) paths.push_back(dir / r);
  return vendor::gzip_concat_size(paths);
}

struct TempDir {
  stdfs::path path;
  explicit TempDir(stdfs::path p) : path(std::move(p)) {}
  TempDir(TempDir&& o) noexcept : path(std::exchange(o.path, {})) {}
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir& operator=(TempDir&&) = delete;
  ~TempDir() {
    if (path.empty()) return;
    std::error_code ec;
    stdfs::remove_all(path, ec);
  }
};

}  // namespace

Savings measure_savings(const stdfs::path& bundle, const bundle::Manifest& manifest, const stdfs::path& cache_dir) {
  std::vector<std::string> files;
  for (const auto& f : manifest.files)
    if (uploaded(f.path)) files.push_back(f.path);
  std::string version = manifest.target.pyodide, entry = manifest.entry ? manifest.entry->module : "";
  if (version.empty() || entry.empty())
    throw Error((bundle / "bundle.json").string() + ": needs target.pyodide and entry.module", Exit::usage);
  auto runtime = runtime::ensure_runtime(version, cache_dir);

  // Two copies: the trace's run may leave files behind that must not count as compiled output.
  auto copy = [&](std::string_view prefix) {
    TempDir t{fs::make_temp_dir(cache_dir / "x", prefix)};
    std::error_code ec;
    for (const auto& rel : files) {
      stdfs::create_directories((t.path / rel).parent_path(), ec);
      if (!ec) stdfs::copy_file(bundle / rel, t.path / rel, ec);
      if (ec) throw Error((bundle / rel).string() + ": cannot copy for --shrink: " + ec.message(), Exit::io);
    }
    stdfs::copy_file(bundle / "bundle.json", t.path / "bundle.json", ec);
    return t;
  };
  auto host_on = [&](const stdfs::path& dir) -> vendor::HostRun {
    return [&, dir](const std::string& mode, const std::vector<std::string>& args) {
      std::vector<std::string> full;
      if (!manifest.vars.empty()) full = {host::kVars, nlohmann::json(manifest.vars).dump()};
      full.insert(full.end(), args.begin(), args.end());
      return runtime::run_host({mode, runtime, dir, cache_dir, true}, full);
    };
  };

  Savings s;
  s.gzip_bytes = gzip_of(bundle, files);

  // --minimize's drops: its trace (entry import with the build's preimports, one request).
  std::vector<std::string> args{"--entry", entry};
  std::string preimport;
  if (manifest.snapshot && manifest.snapshot->recipe && manifest.snapshot->recipe->preimport)
    for (const auto& m : *manifest.snapshot->recipe->preimport) preimport += (preimport.empty() ? "" : ",") + m;
  if (!preimport.empty()) args.insert(args.end(), {"--preimport", preimport});
  std::vector<std::string> dropped;
  {
    auto traced_copy = copy("inspect-trace-");
    nlohmann::json answer;
    try {
      answer = host_on(traced_copy.path)(host::kTrace, args);
    } catch (const Error& e) {
      throw Error(bundle.string() + ": --shrink: tracing the entry failed: " + e.what(), e.code());
    }
    std::set<std::string> traced;
    if (answer.contains("files") && answer["files"].is_array())
      for (const auto& f : answer["files"])
        if (f.is_string()) traced.insert(f.get<std::string>());
    dropped = vendor::minimize_drops(files, traced, {});
  }
  s.minimize_drops = dropped.size();
  std::set<std::string> gone(dropped.begin(), dropped.end());
  s.minimized = gzip_of(bundle, files, gone);

  // --compile=drop-sources, by the runtime's Python; then without the dropped files (their .pyc too).
  auto compiled_copy = copy("inspect-compile-");
  vendor::CompileReport report;
  try {
    report = vendor::compile_bundle(compiled_copy.path, vendor::CompileMode::drop_sources, manifest.target.python,
                                    host_on(compiled_copy.path));
  } catch (const Error& e) {
    throw Error(bundle.string() + ": --shrink: compiling failed: " + e.what(), e.code());
  }
  s.compile_drops = report.sources_dropped;
  auto after = upload_files(compiled_copy.path);
  s.compiled = gzip_of(compiled_copy.path, after);
  for (const auto& d : dropped)
    if (d.ends_with(".py")) gone.insert(d + "c");
  s.both = gzip_of(compiled_copy.path, after, gone);
  return s;
}

}  // namespace pb::check
