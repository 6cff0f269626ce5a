// bundle.json: every file's hash and size, the digest, and fixed modes and times on disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <tuple>
#include <vector>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "vendor/copy.hpp"
#include "vendor/digest.hpp"
#include "vendor/manifest.hpp"
#include "vendor/vendor.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

void set_mode_and_time(const stdfs::path& path, mode_t mode, int64_t mtime) {
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(mtime);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  if (::chmod(path.c_str(), mode) != 0 || ::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
    throw Error("cannot set the mode and time of " + path.string() + ": " + std::strerror(errno), Exit::io);
}

struct Facts {
  std::string sha256;
  uint64_t size = 0;
};

// Hashes a bundle file and gives it mode 0644 and the fixed time, through one descriptor.
Facts hash_and_fix(const stdfs::path& path, int64_t mtime) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    auto err = Error("cannot read " + path.string() + ": " + std::strerror(errno), Exit::io);
    if (fd >= 0) ::close(fd);
    throw err;
  }
  Digest digest("sha256");
  static thread_local std::vector<char> buf(1 << 17);
  Facts facts;
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto err = Error("cannot read " + path.string() + ": " + std::strerror(errno), Exit::io);
      ::close(fd);
      throw err;
    }
    if (n == 0) break;
    digest.update(buf.data(), static_cast<size_t>(n));
    facts.size += static_cast<uint64_t>(n);
  }
  struct timespec times[2];
  times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(mtime);
  times[0].tv_nsec = times[1].tv_nsec = 0;
  bool ok = ((st.st_mode & 07777) == 0644 || ::fchmod(fd, 0644) == 0) &&
            ((st.st_mtim.tv_sec == mtime && st.st_mtim.tv_nsec == 0) || ::futimens(fd, times) == 0);
  if (!ok) {
    auto err = Error("cannot set the mode and time of " + path.string() + ": " + std::strerror(errno), Exit::io);
    ::close(fd);
    throw err;
  }
  ::close(fd);
  facts.sha256 = digest.hex();
  return facts;
}

}  // namespace

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

ManifestTotals write_manifest_with(const stdfs::path& staged, const BundleSpec& spec) {
  const int64_t mtime = resolve_mtime(spec.options);
  std::vector<std::string> files;
  std::vector<stdfs::path> dirs;
  std::error_code ec;
  for (stdfs::recursive_directory_iterator it(staged, ec), end; !ec && it != end; it.increment(ec)) {
    auto rel = it->path().lexically_relative(staged).generic_string();
    auto type = it->symlink_status(ec).type();
    if (ec) break;
    if (type == stdfs::file_type::directory) {
      dirs.push_back(it->path());
    } else if (type == stdfs::file_type::regular) {
      if (rel.compare(0, 15, "python_modules/") == 0 || rel.compare(0, 4, "app/") == 0) files.push_back(rel);
      else if (rel != "bundle.json") set_mode_and_time(it->path(), 0644, mtime);
    } else {
      throw Error("bundle " + staged.string() + ": '" + rel + "' is not a regular file or directory", Exit::internal);
    }
  }
  if (ec) throw Error("cannot list " + staged.string() + ": " + ec.message(), Exit::io);
  std::sort(files.begin(), files.end());

  ManifestTotals totals;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  Digest digest("sha256");
  for (const auto& rel : files) {
    auto facts = hash_and_fix(staged / rel, mtime);
    totals.files += 1;
    totals.bytes += facts.size;
    list.push_back({{"path", rel}, {"sha256", facts.sha256}, {"size", facts.size}});
    std::string line = rel + "\t" + facts.sha256 + "\n";
    digest.update(line.data(), line.size());
  }

  std::vector<const Input*> inputs;
  for (const auto& in : spec.inputs) inputs.push_back(&in);
  std::sort(inputs.begin(), inputs.end(), [](const Input* a, const Input* b) {
    return std::tie(a->name, a->version, a->filename) < std::tie(b->name, b->version, b->filename);
  });
  nlohmann::ordered_json packages = nlohmann::ordered_json::array();
  for (const auto* in : inputs) {
    nlohmann::ordered_json p;
    p["name"] = in->name;
    p["version"] = in->version;
    p["origin"] = in->origin;
    bool wheel = in->origin != "source";
    p["wheel"] = wheel ? nlohmann::ordered_json(in->filename.empty() ? in->file.filename().string() : in->filename)
                       : nlohmann::ordered_json();
    p["sha256"] = wheel ? nlohmann::ordered_json(in->sha256) : nlohmann::ordered_json();
    packages.push_back(std::move(p));
  }

  nlohmann::ordered_json m;
  m["schema"] = 1;
  m["tool"] = std::string("pybundle ") + PYBUNDLE_VERSION;
  m["target"] = nlohmann::ordered_json::parse(spec.target.dump());
  if (spec.entry.empty()) {
    m["entry"] = nullptr;
  } else {
    auto [path, module] = entry_in_bundle(spec.entry);
    // "source": where the entry is in the project, so tracebacks name the project's files.
    m["entry"] = {{"path", path}, {"module", module}, {"source", spec.entry}};
  }
  m["packages"] = std::move(packages);
  m["files"] = std::move(list);
  m["digest"] = digest.hex();
  m["snapshot"] = nlohmann::ordered_json::parse(spec.snapshot.dump());
  if (!spec.name.empty()) m["name"] = spec.name;
  if (spec.vars.is_object() && !spec.vars.empty()) m["vars"] = nlohmann::ordered_json::parse(spec.vars.dump());

  auto manifest = staged / "bundle.json";
  fs::write_file_atomic(manifest, m.dump(2) + "\n");
  set_mode_and_time(manifest, 0644, mtime);
  // Deepest first: setting a directory's time must come after every change inside it.
  std::sort(dirs.begin(), dirs.end(), [](const stdfs::path& a, const stdfs::path& b) { return a > b; });
  for (const auto& d : dirs) set_mode_and_time(d, 0755, mtime);
  set_mode_and_time(staged, 0755, mtime);
  return totals;
}

void write_manifest(const stdfs::path& staged, const BundleSpec& spec, Report* report) {
  auto totals = write_manifest_with(staged, spec);
  if (report) {
    report->files = totals.files;
    report->bytes = totals.bytes;
  }
}

}  // namespace pb::vendor
