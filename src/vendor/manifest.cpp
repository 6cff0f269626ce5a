// bundle.json of a staged bundle: the spec's facts, then the files as bundle::scan finds them.
#include "vendor/manifest.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <tuple>
#include <vector>

#include "util/error.hpp"
#include "vendor/copy.hpp"

namespace pb::vendor {

int64_t source_date_epoch() {
  const char* v = std::getenv("SOURCE_DATE_EPOCH");
  if (!v || !*v) return 0;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < 0)
    throw Error(std::string("SOURCE_DATE_EPOCH: '") + v + "' is not a number of seconds", Exit::usage);
  return n;
}

int64_t resolve_mtime(const Options& options) {
  return options.mtime ? *options.mtime : source_date_epoch();
}

bundle::Manifest manifest_of(const BundleSpec& spec) {
  bundle::Manifest m;
  m.tool = std::string("pybundle ") + PYBUNDLE_VERSION;
  m.target = spec.target;
  if (!spec.entry.empty()) {
    auto [path, module] = entry_in_bundle(spec.entry);
    // "source": where the entry is in the project, so tracebacks name the project's files.
    m.entry = bundle::Entry{path, module, spec.entry};
  }
  std::vector<const Input*> inputs;
  for (const auto& in : spec.inputs) inputs.push_back(&in);
  std::sort(inputs.begin(), inputs.end(), [](const Input* a, const Input* b) {
    return std::tie(a->name, a->version, a->filename) < std::tie(b->name, b->version, b->filename);
  });
  for (const auto* in : inputs) {
    bundle::Package p{in->name, in->version, in->origin, std::nullopt, std::nullopt};
    if (in->origin != "source") {
      p.wheel = in->filename.empty() ? in->file.filename().string() : in->filename;
      p.sha256 = in->sha256;
    }
    m.packages.push_back(std::move(p));
  }
  m.name = spec.name;
  m.vars = spec.vars;
  return m;
}

void write_manifest(const std::filesystem::path& staged, const BundleSpec& spec, Report& report) {
  const int64_t mtime = resolve_mtime(spec.options);
  auto stats = report.manifest.rescan(staged, mtime);
  report.manifest.write(staged, mtime);
  report.files = report.manifest.files.size();
  report.bytes = stats.bytes;
  report.hashed += stats.hashed;
}

}  // namespace pb::vendor
