// build::build against fake services: the example project (fixtures/example) with its wheels
// "fetched" from fixtures/example/index, a trimmed copy of Pyodide's lock as the runtime, and
// Node's runs (snapshot, smoke) faked.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "build/build.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

namespace stdfs = std::filesystem;
using namespace pb::build;

namespace {

const stdfs::path kRoot = PYBUNDLE_SOURCE_ROOT;

struct Recorder : Reporter {
  std::vector<std::string> infos, warnings, lines, phases;
  bool verbose = false;
  void info(std::string_view line) override { infos.emplace_back(line); }
  void warning(std::string_view line) override { warnings.emplace_back(line); }
  bool details() const override { return verbose; }
  void detail(std::string_view line) override { lines.emplace_back(line); }
  void phase(std::string_view name, double seconds) override {
    CHECK(seconds >= 0);
    phases.emplace_back(name);
  }
};

// A copy of the example project in a temporary directory; the bundle goes to <tmp>/out/dist.
struct Example {
  stdfs::path tmp = pb::fs::make_temp_dir(stdfs::temp_directory_path() / "x", "pb-build-test-");
  stdfs::path out = tmp / "out" / "dist";
  BuildRequest request;
  Services services;
  std::vector<pb::fetch::Request> fetched;
  std::vector<pb::snapshot::MakeOptions> snapshots;

  Example() {
    stdfs::copy(kRoot / "fixtures/example", tmp / "project", stdfs::copy_options::recursive);
    stdfs::create_directories(out.parent_path());
    request.plan.dir = tmp / "project";
    request.plan.cache_dir = tmp / "cache";
    request.plan.runtime = kRoot / "fixtures/targets/314.0.7";
    request.plan.target = "pyodide@314.0.7";
    request.out = out;
    // The lock's URLs are served from fixtures/example/index: here the fetch reads it directly.
    services.fetch = [this](const std::vector<pb::fetch::Request>& requests, const pb::fetch::Options& o) {
      CHECK(o.cache_dir == request.plan.cache_dir);
      std::map<std::string, stdfs::path> files;
      for (const auto& r : requests) {
        fetched.push_back(r);
        files[r.label] = kRoot / "fixtures/example/index/wheels" / r.url.substr(r.url.rfind('/') + 1);
      }
      return files;
    };
    services.node = [] { return stdfs::path("/usr/bin/node"); };
    services.runtime = [](const std::string&, const stdfs::path&, bool) -> stdfs::path {
      throw pb::Error("no runtime install in unit tests", pb::Exit::internal);
    };
    services.host = [](const pb::runtime::HostCall&, const std::vector<std::string>&) -> nlohmann::json {
      throw pb::Error("no host runs in unit tests", pb::Exit::internal);
    };
    services.snapshot = [this](const pb::snapshot::MakeOptions& o) {
      snapshots.push_back(o);
      pb::fs::write_file_atomic(o.bundle_dir / "snapshot.bin.zst", "snapshot");
      pb::snapshot::MakeResult r;
      r.facts.file = "snapshot.bin.zst";
      r.facts.size = 8;
      r.facts.hash_seed = 7;
      return r;
    };
    services.smoke = [](const stdfs::path&, const stdfs::path&, const std::vector<std::string>& modules,
                        const stdfs::path&, const std::vector<std::string>&) {
      pb::snapshot::SmokeReport r;
      for (const auto& m : modules) {
        pb::snapshot::SmokeResult ok;
        ok.module = m;
        r.results.push_back(ok);
      }
      return r;
    };
  }
  ~Example() { stdfs::remove_all(tmp); }

  // What is beside --out: the bundle and nothing staged.
  std::set<std::string> beside_out() const {
    std::set<std::string> names;
    for (const auto& e : stdfs::directory_iterator(out.parent_path())) names.insert(e.path().filename().string());
    return names;
  }
};

}  // namespace

TEST_CASE("build: plan, fetch, vendor and snapshot into --out; the reporter gets every phase") {
  Example ex;
  Recorder rec;
  rec.verbose = true;
  auto result = build(ex.request, ex.services, rec);
  CHECK(result.out == ex.out);
  CHECK(result.pyodide == "314.0.7");
  CHECK(result.packages == 2);
  REQUIRE(result.snapshot);
  CHECK(result.snapshot->hash_seed == 7u);
  REQUIRE(result.snapshot->recipe);
  CHECK(result.snapshot->recipe->entry == "app");
  CHECK(rec.phases == std::vector<std::string>{"plan", "fetch", "vendor", "snapshot", "smoke"});
  CHECK(std::count(rec.infos.begin(), rec.infos.end(), "making the snapshot: importing 'app' in Pyodide 314.0.7") == 1);
  CHECK(std::find(rec.lines.begin(), rec.lines.end(), "  app/app.py") != rec.lines.end());
  REQUIRE(ex.snapshots.size() == 1);
  CHECK(ex.snapshots[0].cache_dir == ex.request.plan.cache_dir);  // the request's cache, not the user's
  CHECK(ex.snapshots[0].entry_module == "app");
  CHECK(pb::fs::read_file(ex.out / "snapshot.bin.zst") == "snapshot");
  CHECK(stdfs::exists(ex.out / "python_modules/minirouter/__init__.py"));
  CHECK(stdfs::exists(ex.out / "python_modules/slugkit/__init__.py"));
  auto manifest = nlohmann::json::parse(pb::fs::read_file(ex.out / "bundle.json"));
  CHECK(manifest["snapshot"]["recipe"]["target"] == "pyodide@314.0.7");
  CHECK(ex.beside_out() == std::set<std::string>{"dist"});
}

TEST_CASE("build: fetched files are paired with plan items by package name") {
  Example ex;
  Recorder rec;
  ex.request.snapshot = false;
  ex.request.smoke = false;
  auto fetch = ex.services.fetch;
  // Whatever order the files come back in, each package gets its own wheel.
  ex.services.fetch = [&](const std::vector<pb::fetch::Request>& requests, const pb::fetch::Options& o) {
    auto reversed = requests;
    std::reverse(reversed.begin(), reversed.end());
    return fetch(reversed, o);
  };
  build(ex.request, ex.services, rec);
  std::set<std::string> labels;
  for (const auto& r : ex.fetched) labels.insert(r.label);
  CHECK(labels == std::set<std::string>{"minirouter", "slugkit"});
  auto manifest = nlohmann::json::parse(pb::fs::read_file(ex.out / "bundle.json"));
  for (const auto& p : manifest["packages"])
    CHECK(p["wheel"].get<std::string>().starts_with(p["name"].get<std::string>() + "-"));
  CHECK(rec.phases == std::vector<std::string>{"plan", "fetch", "vendor"});

  // A fetch that leaves a package out is an error naming it, and nothing is staged.
  ex.services.fetch = [&](const std::vector<pb::fetch::Request>& requests, const pb::fetch::Options& o) {
    auto files = fetch(requests, o);
    files.erase("slugkit");
    return files;
  };
  auto before = pb::fs::read_file(ex.out / "bundle.json");
  CHECK_THROWS_WITH(build(ex.request, ex.services, rec), "package 'slugkit': the fetch gave no file for it");
  CHECK(pb::fs::read_file(ex.out / "bundle.json") == before);
  CHECK(ex.beside_out() == std::set<std::string>{"dist"});
}

TEST_CASE("build: a failing snapshot leaves no staged directory and the earlier bundle as it was") {
  Example ex;
  Recorder rec;
  build(ex.request, ex.services, rec);
  auto before = pb::fs::read_file(ex.out / "bundle.json");
  ex.request.archive = ex.tmp / "app.tar.zst";
  ex.services.snapshot = [](const pb::snapshot::MakeOptions& o) -> pb::snapshot::MakeResult {
    CHECK(stdfs::exists(o.bundle_dir / "bundle.json"));  // the staged bundle, beside --out
    throw pb::Error("importing 'app' failed", pb::Exit::problems);
  };
  try {
    build(ex.request, ex.services, rec);
    FAIL("the build succeeded");
  } catch (const pb::Error& e) {
    CHECK(std::string(e.what()) == "importing 'app' failed");
    CHECK(e.code() == pb::Exit::problems);
  }
  CHECK(pb::fs::read_file(ex.out / "bundle.json") == before);
  CHECK(pb::fs::read_file(ex.out / "snapshot.bin.zst") == "snapshot");
  CHECK(ex.beside_out() == std::set<std::string>{"dist"});
  CHECK_FALSE(stdfs::exists(ex.request.archive));
}

TEST_CASE("build: without a snapshot the smoke run proves the entry imports, else nothing is written") {
  Example ex;
  Recorder rec;
  ex.request.snapshot = false;
  std::mutex m;
  std::vector<std::string> asked;
  bool entry_imports = true;
  ex.services.smoke = [&](const stdfs::path& bundle, const stdfs::path& runtime,
                          const std::vector<std::string>& modules, const stdfs::path& cache,
                          const std::vector<std::string>&) {
    std::lock_guard lock(m);
    CHECK(stdfs::exists(bundle / "app/app.py"));
    CHECK(runtime == ex.request.plan.runtime);
    CHECK(cache == ex.request.plan.cache_dir);
    asked = modules;
    pb::snapshot::SmokeReport r;
    pb::snapshot::SmokeResult app;
    app.module = "app";
    app.ok = entry_imports;
    if (!entry_imports) {
      app.error = "ModuleNotFoundError";
      app.message = "No module named 'nope'";
      app.missing_module = "nope";
    }
    r.results.push_back(app);
    return r;
  };
  build(ex.request, ex.services, rec);
  CHECK(asked == std::vector<std::string>{"app"});
  CHECK(rec.phases == std::vector<std::string>{"plan", "fetch", "vendor", "smoke"});
  CHECK(std::find(rec.infos.begin(), rec.infos.end(), "checking that the entry imports") != rec.infos.end());
  CHECK_FALSE(stdfs::exists(ex.out / "snapshot.bin.zst"));

  auto before = pb::fs::read_file(ex.out / "bundle.json");
  stdfs::remove_all(ex.out / "app");  // so a half-written bundle would show
  entry_imports = false;
  try {
    build(ex.request, ex.services, rec);
    FAIL("the build succeeded");
  } catch (const pb::Errors& e) {
    CHECK(e.code() == pb::Exit::problems);
    REQUIRE(e.problems().size() == 1);
    CHECK(e.problems()[0].starts_with(
        "the entry module 'app' does not import: ModuleNotFoundError: No module named 'nope'"));
  }
  CHECK(pb::fs::read_file(ex.out / "bundle.json") == before);
  CHECK_FALSE(stdfs::exists(ex.out / "app"));
  CHECK(ex.beside_out() == std::set<std::string>{"dist"});

  // --no-smoke: no Node at all.
  ex.request.smoke = false;
  ex.services.node = []() -> stdfs::path { throw pb::Error("no node", pb::Exit::usage); };
  build(ex.request, ex.services, rec);
  CHECK(stdfs::exists(ex.out / "app/app.py"));
}

TEST_CASE("build: --out is checked before anything is fetched") {
  Example ex;
  Recorder rec;
  ex.request.out = ex.request.plan.dir;  // the project itself
  CHECK_THROWS_WITH(build(ex.request, ex.services, rec),
                    doctest::Contains(("--out " + ex.request.plan.dir.string()).c_str()));
  CHECK(ex.fetched.empty());
  ex.request.out = ex.out;
  ex.request.home = ex.tmp;  // $HOME, resolved by the CLI: never replaced, nor its ancestors
  ex.request.out = ex.tmp.parent_path();
  CHECK_THROWS(build(ex.request, ex.services, rec));
  CHECK(ex.fetched.empty());
}
