// --compile and --minimize on a staged bundle, with the runtime replaced by a scripted host.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "vendor/shrink.hpp"

namespace stdfs = std::filesystem;
using namespace pb::vendor;

namespace {

struct TempBundle {
  stdfs::path dir;
  TempBundle() : dir(pb::fs::make_temp_dir(stdfs::temp_directory_path() / "pb-shrink", "pb-shrink-")) {}
  ~TempBundle() {
    std::error_code ec;
    stdfs::remove_all(dir, ec);
  }
  void put(const std::string& rel, const std::string& text = "x = 1\n") const {
    stdfs::create_directories((dir / rel).parent_path());
    pb::fs::write_file_atomic(dir / rel, text);
  }
  bool has(const std::string& rel) const { return stdfs::exists(dir / rel); }
};

// A host that answers from a table and records what it was asked.
struct FakeHost {
  std::map<std::string, nlohmann::json> answers;
  std::map<std::string, std::string> errors;  // mode -> message thrown
  std::vector<std::string> calls;
  std::vector<std::vector<std::string>> args;
  HostRun fn() {
    return [this](const std::string& mode, const std::vector<std::string>& a) {
      calls.push_back(mode);
      args.push_back(a);
      if (errors.count(mode)) throw pb::Error(errors[mode], pb::Exit::problems);
      return answers.count(mode) ? answers[mode] : nlohmann::json{{"ok", true}};
    };
  }
};

void fill(const TempBundle& b) {
  b.put("app/app.py", "import used\n");
  b.put("python_modules/used/__init__.py");
  b.put("python_modules/used/data.json", "{}");
  b.put("python_modules/used/unused.py");
  b.put("python_modules/used-1.0.dist-info/METADATA", "Name: used\n");
  b.put("python_modules/used-1.0.dist-info/RECORD", "");
  b.put("python_modules/other/__init__.py");
  b.put("python_modules/other/sub/deep.py");
}

}  // namespace

TEST_CASE("--compile modes") {
  CHECK(parse_compile_mode("keep-sources") == CompileMode::keep_sources);
  CHECK(parse_compile_mode("drop-sources") == CompileMode::drop_sources);
  CHECK_THROWS_AS(parse_compile_mode("yes"), pb::Error);
}

TEST_CASE("minimisation keeps traced files, package metadata and --keep globs") {
  std::vector<std::string> files{"app/app.py",
                                 "python_modules/a/__init__.py",
                                 "python_modules/a/b.py",
                                 "python_modules/a/data/x.txt",
                                 "python_modules/a/cacert.pem",
                                 "python_modules/a/helper.so",
                                 "python_modules/a-1.0.dist-info/METADATA",
                                 "python_modules/a-1.0.dist-info/entry_points.txt",
                                 "python_modules/c/__init__.py",
                                 "python_modules/nested/x.dist-info/f.py"};
  std::set<std::string> traced{"app/app.py", "python_modules/a/__init__.py"};
  // a/cacert.pem sits beside a used module; a/data/ holds nothing used.
  CHECK(minimize_drops(files, traced, {}) ==
        std::vector<std::string>{"python_modules/a/b.py", "python_modules/a/data/x.txt", "python_modules/a/helper.so",
                                 "python_modules/c/__init__.py", "python_modules/nested/x.dist-info/f.py"});
  CHECK(minimize_drops(files, traced, {"a/data/**", "c"}) ==
        std::vector<std::string>{"python_modules/a/b.py", "python_modules/a/helper.so",
                                 "python_modules/nested/x.dist-info/f.py"});
}

TEST_CASE("minimize_bundle drops what the trace did not touch, then proves the result") {
  TempBundle b;
  fill(b);
  FakeHost host;
  host.answers["trace"] = {
      {"ok", true},
      {"files", {"app/app.py", "python_modules/used/__init__.py", "python_modules/used/data.json"}},
      {"bundle_modules", {"app", "used"}}};
  host.answers["smoke"] = {{"ok", true},
                           {"modules", {{{"module", "app"}, {"ok", true}}, {{"module", "used"}, {"ok", true}}}}};
  bool after = false;
  MinimizeSpec spec{"app", {"extra"}, {}, [&] { after = true; }};
  auto report = minimize_bundle(b.dir, spec, host.fn());
  CHECK(host.calls == std::vector<std::string>{"trace", "smoke", "run"});
  CHECK(host.args[0] == std::vector<std::string>{"--entry", "app", "--preimport", "extra"});
  CHECK(host.args[1] == std::vector<std::string>{"--modules", "app,used"});
  CHECK(after);
  CHECK(report.dropped == std::vector<std::string>{"python_modules/other/__init__.py",
                                                   "python_modules/other/sub/deep.py",
                                                   "python_modules/used/unused.py"});
  CHECK(report.files_before == 7);
  CHECK(report.files_kept == 4);
  CHECK(b.has("python_modules/used/data.json"));
  CHECK(b.has("python_modules/used-1.0.dist-info/RECORD"));
  CHECK(b.has("app/app.py"));
  CHECK_FALSE(b.has("python_modules/used/unused.py"));
  CHECK_FALSE(b.has("python_modules/other"));  // empty directories go too
}

TEST_CASE("a failed proof names the module and the dropped files it needed") {
  TempBundle b;
  fill(b);
  FakeHost host;
  host.answers["trace"] = {{"ok", true}, {"files", {"python_modules/used/__init__.py"}}, {"bundle_modules", {"used"}}};
  host.answers["smoke"] = {{"ok", true},
                           {"modules",
                            {{{"module", "used"},
                              {"ok", false},
                              {"error", "FileNotFoundError"},
                              {"message", "No such file: deep.py"},
                              {"missing_file", "python_modules/other/sub/deep.py"}}}}};
  try {
    minimize_bundle(b.dir, {"app", {}, {}, {}}, host.fn());
    FAIL("no error");
  } catch (const pb::Error& e) {
    std::string msg = e.what();
    CHECK(e.code() == pb::Exit::problems);
    CHECK(msg.find("importing 'used' fails: FileNotFoundError") != std::string::npos);
    CHECK(msg.find("dropped: python_modules/other/sub/deep.py (keep files with --keep GLOB)") != std::string::npos);
  }
  CHECK(host.calls == std::vector<std::string>{"trace", "smoke"});

  TempBundle c;
  fill(c);
  host.calls.clear();
  host.answers["smoke"] = {{"ok", true},
                           {"modules",
                            {{{"module", "used"},
                              {"ok", false},
                              {"error", "ModuleNotFoundError"},
                              {"message", "No module named 'other.sub'"},
                              {"missing_module", "other.sub"}}}}};
  try {
    minimize_bundle(c.dir, {"app", {}, {}, {}}, host.fn());
    FAIL("no error");
  } catch (const pb::Error& e) {
    CHECK(std::string(e.what()).find("dropped: python_modules/other/sub/deep.py") != std::string::npos);
  }

  TempBundle d;
  fill(d);
  host.answers["smoke"] = {{"ok", true}, {"modules", {{{"module", "used"}, {"ok", true}}}}};
  host.errors["run"] = "on_fetch raised: KeyError: 'x'";
  CHECK_THROWS_WITH_AS(minimize_bundle(d.dir, {"app", {}, {}, {}}, host.fn()),
                       doctest::Contains("the entry no longer answers a request: on_fetch raised: KeyError"),
                       pb::Error);
}

TEST_CASE("a trace that fails drops nothing") {
  TempBundle b;
  fill(b);
  FakeHost host;
  host.errors["trace"] = "importing 'app' failed: ImportError: x";
  CHECK_THROWS_WITH_AS(minimize_bundle(b.dir, {"app", {}, {}, {}}, host.fn()),
                       doctest::Contains("tracing the entry failed before anything was dropped"), pb::Error);
  CHECK(b.has("python_modules/other/sub/deep.py"));
}

TEST_CASE("compile_bundle: drop-sources removes python_modules sources that compiled, app/ keeps its own") {
  TempBundle b;
  fill(b);
  b.put("python_modules/used/__init__.pyc", "pyc");
  b.put("python_modules/used/unused.pyc", "pyc");
  b.put("app/__pycache__/app.cpython-313.pyc", "pyc");
  FakeHost host;
  host.answers["compile"] = {
      {"ok", true},
      {"magic", "f30d0d0a"},
      {"python", "3.13.2"},
      {"compiled",
       {{{"file", "python_modules/used/__init__.py"}, {"pyc", "python_modules/used/__init__.pyc"}},
        {{"file", "python_modules/used/unused.py"}, {"pyc", "python_modules/used/unused.pyc"}},
        {{"file", "app/app.py"}, {"pyc", "app/__pycache__/app.cpython-313.pyc"}}}},
      {"failed", {{{"file", "python_modules/other/__init__.py"}, {"error", "SyntaxError: invalid syntax"}}}}};
  auto r = compile_bundle(b.dir, CompileMode::drop_sources, "3.13.2", host.fn());
  CHECK(host.args[0] == std::vector<std::string>{"--placement", "legacy", "--python", "3.13.2"});
  CHECK(r.compiled == 3);
  CHECK(r.sources_dropped == 2);
  CHECK(r.magic == "f30d0d0a");
  REQUIRE(r.warnings.size() == 1);
  CHECK(r.warnings[0].find("python_modules/other/__init__.py: does not compile") == 0);
  CHECK_FALSE(b.has("python_modules/used/__init__.py"));
  CHECK(b.has("python_modules/other/__init__.py"));
  CHECK(b.has("app/app.py"));

  host.answers["compile"]["compiled"] = {
      {{"file", "python_modules/other/sub/deep.py"}, {"pyc", "python_modules/other/sub/deep.pyc"}}};
  CHECK_THROWS_WITH_AS(compile_bundle(b.dir, CompileMode::keep_sources, "3.13.2", host.fn()),
                       doctest::Contains("which is not there"), pb::Error);
  CHECK(host.args[1][1] == "pycache");
  CHECK(compile_bundle(b.dir, CompileMode::none, "3.13.2", host.fn()).compiled == 0);
  CHECK(host.calls.size() == 2);
}
