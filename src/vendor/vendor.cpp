#include "vendor/vendor.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_map>

#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/interrupt.hpp"
#include "vendor/copy.hpp"
#include "vendor/extract.hpp"
#include "vendor/manifest.hpp"
#include "vendor/paths.hpp"

namespace pb::vendor {

namespace stdfs = std::filesystem;

namespace {

// Runs fn(0..n-1) on up to `jobs` threads; rethrows the first exception. Stops taking items once a
// signal is being handled (the staging directory is going away) and throws.
void parallel_for(size_t n, int jobs, const std::function<void(size_t)>& fn) {
  size_t workers = std::min<size_t>(n, static_cast<size_t>(std::max(1, jobs)));
  if (workers <= 1) {
    for (size_t i = 0; i < n && !interrupt::interrupted(); ++i) fn(i);
    interrupt::throw_if_interrupted();
    return;
  }
  std::atomic<size_t> next{0};
  std::exception_ptr error;
  std::mutex mu;
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < n && !interrupt::interrupted();) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (error) std::rethrow_exception(error);
  interrupt::throw_if_interrupted();
}

std::string staging_prefix(const stdfs::path& out) {
  return "." + out.filename().string() + ".tmp-";
}

// Staging directories "<prefix><pid>-<random>" left by builds that were killed.
void remove_stale_staging(const stdfs::path& out) {
  auto parent = out.has_parent_path() ? out.parent_path() : stdfs::path(".");
  auto prefix = staging_prefix(out);
  std::error_code ec;
  for (stdfs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    auto name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    auto rest = name.substr(prefix.size());
    auto dash = rest.find('-');
    if (dash == std::string::npos || dash == 0) continue;
    pid_t pid = static_cast<pid_t>(std::strtol(rest.substr(0, dash).c_str(), nullptr, 10));
    if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) {
      fs::remove_tree(it->path());
    }
  }
}

struct Claim {
  std::string owner;  // wheel file name or source package
  std::string entry;  // path inside it
};

std::string describe(const Claim& c) {
  return c.owner + " (entry '" + c.entry + "')";
}

// Every path written under python_modules/ has exactly one owner, and no two paths differ only
// by case; checked before anything is written.
class Claims {
 public:
  void file(const std::string& dest, const Claim& who, std::vector<std::string>& problems) {
    const std::string shown = "python_modules/" + dest;
    for (size_t pos = 0; (pos = dest.find('/', pos)) != std::string::npos; ++pos) {
      auto dir = dest.substr(0, pos);
      if (auto f = files_.find(dir); f != files_.end()) {
        problems.push_back(describe(who) + " needs directory python_modules/" + dir + ", which " + describe(f->second) +
                           " writes as a file");
        return;
      }
      if (dirs_.emplace(dir, who).second && !fold(dir, who, problems)) return;
    }
    if (auto f = files_.find(dest); f != files_.end()) {
      problems.push_back(f->second.owner == who.owner
                             ? who.owner + ": entries '" + f->second.entry + "' and '" + who.entry + "' both write " +
                                   shown
                             : shown + " is written by both " + describe(f->second) + " and " + describe(who));
      return;
    }
    if (auto d = dirs_.find(dest); d != dirs_.end()) {
      problems.push_back(describe(who) + " writes file " + shown + ", which " + describe(d->second) +
                         " needs as a directory");
      return;
    }
    files_.emplace(dest, who);
    fold(dest, who, problems);
  }

 private:
  bool fold(const std::string& path, const Claim& who, std::vector<std::string>& problems) {
    auto [it, fresh] = folded_.emplace(fold_case(path), std::make_pair(path, who));
    if (fresh || it->second.first == path) return true;
    problems.push_back("python_modules/" + path + " from " + describe(who) +
                       " differs only by case from python_modules/" + it->second.first + " from " +
                       describe(it->second.second));
    return false;
  }
  std::unordered_map<std::string, Claim> files_, dirs_;
  std::unordered_map<std::string, std::pair<std::string, Claim>> folded_;
};

void make_dir(const stdfs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
    throw Error("cannot create directory " + dir.string() + ": " + std::strerror(errno), Exit::io);
}

void fail_with(std::vector<std::string> problems) {
  bool io = std::all_of(problems.begin(), problems.end(),
                        [](const std::string& p) { return p.find("cannot ") != std::string::npos; });
  throw Errors(std::move(problems), io ? Exit::io : Exit::problems);
}

}  // namespace

stdfs::path assemble(const BundleSpec& spec, Report* report) {
  const Options& options = spec.options;
  if (spec.out.empty()) throw Error("bundle output directory not set", Exit::usage);
  resolve_mtime(options);  // a malformed SOURCE_DATE_EPOCH fails before any work

  std::vector<const Input*> wheels, sources;
  for (const auto& in : spec.inputs) (in.origin == "source" ? sources : wheels).push_back(&in);
  auto by_name = [](const Input* a, const Input* b) {
    return std::tie(a->name, a->filename) < std::tie(b->name, b->filename);
  };
  std::sort(wheels.begin(), wheels.end(), by_name);
  std::sort(sources.begin(), sources.end(), by_name);

  remove_stale_staging(spec.out);
  auto staged = fs::make_temp_dir(spec.out, staging_prefix(spec.out) + std::to_string(::getpid()) + "-");
  interrupt::remove_on_signal(staged);
  try {
    // Pass 1: read every wheel's directory and RECORD; plan sources and app/.
    std::vector<WheelPlan> plans(wheels.size());
    parallel_for(wheels.size(), options.jobs,
                 [&](size_t i) { plans[i] = scan_wheel(*wheels[i], options, spec.target.python); });
    std::vector<CopyPlan> source_plans;
    for (const auto* in : sources) source_plans.push_back(plan_source(*in, spec));
    CopyPlan app = plan_app(spec);

    std::vector<std::string> problems;
    for (const auto& p : plans) problems.insert(problems.end(), p.problems.begin(), p.problems.end());
    for (const auto& p : source_plans) problems.insert(problems.end(), p.problems.begin(), p.problems.end());
    problems.insert(problems.end(), app.problems.begin(), app.problems.end());
    if (problems.empty()) {
      Claims claims;
      for (const auto& p : plans)
        for (const auto& e : p.entries)
          if (!e.dest.empty()) claims.file(e.dest, {p.wheel, e.name}, problems);
      for (const auto& p : source_plans) {
        for (const auto& item : p.items) claims.file(item.dest, {p.label, item.dest}, problems);
        for (const auto& [dest, content] : p.generated) claims.file(dest, {p.label, dest}, problems);
      }
    }
    if (!problems.empty()) fail_with(std::move(problems));

    // Pass 2: stream the wheels to disk, biggest first so two threads finish together.
    auto modules = staged / "python_modules";
    make_dir(modules);
    std::vector<size_t> order(plans.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return plans[a].archive_size > plans[b].archive_size; });
    std::vector<std::vector<std::string>> wheel_problems(plans.size());
    parallel_for(order.size(), options.jobs, [&](size_t k) {
      size_t i = order[k];
      extract_wheel(plans[i], modules, options, wheel_problems[i]);
    });
    for (auto& p : wheel_problems) problems.insert(problems.end(), p.begin(), p.end());
    for (const auto& p : source_plans) run_copy(p, modules, problems);
    if (!app.items.empty()) {
      make_dir(staged / "app");
      run_copy(app, staged / "app", problems);
    }
    if (!problems.empty()) fail_with(std::move(problems));

    Report local;
    if (!report) report = &local;
    report->manifest = manifest_of(spec);
    report->hashed = 0;
    write_manifest(staged, spec, *report);
    report->dropped.clear();
    for (const auto& p : plans)
      for (const auto& e : p.entries)
        if (!e.dropped.empty()) report->dropped.push_back({p.wheel, e.name, e.dropped, e.declared});
    for (const auto& p : source_plans)
      report->dropped.insert(report->dropped.end(), p.dropped.begin(), p.dropped.end());
    report->dropped.insert(report->dropped.end(), app.dropped.begin(), app.dropped.end());
    return staged;
  } catch (...) {
    std::error_code ec;
    stdfs::remove_all(staged, ec);
    throw;
  }
}

}  // namespace pb::vendor
