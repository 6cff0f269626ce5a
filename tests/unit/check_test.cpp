// `pybundle check`: each check on purpose-made inputs, the exit code rule, and the three formats.
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>

#include "check/bundle_checks.hpp"
#include "check/inspect.hpp"
#include "check/output.hpp"
#include "check/project_checks.hpp"
#include "check/report.hpp"
#include "check/runtime_checks.hpp"
#include "lock/lock.hpp"
#include "plan/plan.hpp"
#include "project/project.hpp"
#include "snapshot/snapshot.hpp"
#include "testing.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "vendor/wrangler.hpp"

using namespace pb;
using check::Severity;
using check::Status;
namespace stdfs = std::filesystem;
using pb::testing::TempDir;

namespace {

const char* kLock = R"(version = 1
revision = 3
requires-python = ">=3.12"

[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }
dependencies = [{ name = "flask" }, { name = "fromgit" }, { name = "fromurl" }, { name = "onlysdist" }, { name = "nowheel" }]

[package.metadata]
requires-dist = [{ name = "flask" }, { name = "fromgit" }, { name = "fromurl" }, { name = "onlysdist" }, { name = "nowheel" }]

[[package]]
name = "flask"
version = "3.0.0"
source = { registry = "https://pypi.invalid/simple" }
wheels = [{ url = "https://files.invalid/flask-3.0.0-py3-none-any.whl", hash = "sha256:aa", size = 5000 }]

[[package]]
name = "fromgit"
version = "1.0"
source = { git = "https://git.invalid/fromgit?rev=main#abc" }

[[package]]
name = "fromurl"
version = "2.0"
source = { url = "https://files.invalid/fromurl-2.0-py3-none-any.whl" }
wheels = [{ url = "https://files.invalid/fromurl-2.0-py3-none-any.whl", hash = "sha256:bb", size = 3000 }]

[[package]]
name = "onlysdist"
version = "1.1"
source = { registry = "https://pypi.invalid/simple" }
sdist = { url = "https://files.invalid/onlysdist-1.1.tar.gz", hash = "sha256:cc", size = 100 }

[[package]]
name = "nowheel"
version = "0.5"
source = { registry = "https://pypi.invalid/simple" }
wheels = [{ url = "https://files.invalid/nowheel-0.5-cp313-cp313-manylinux_2_17_x86_64.whl", hash = "sha256:dd", size = 100 }]
)";

lock::Lock test_lock() {
  return lock::parse_uv(kLock, "/p/uv.lock");
}

plan::Item item(const std::string& name, const std::string& version, std::optional<uint64_t> size,
                plan::Origin origin = plan::Origin::lock_wheel) {
  plan::Item i;
  i.name = name;
  i.version = version;
  i.origin = origin;
  i.filename = name + "-" + version + "-py3-none-any.whl";
  i.size = size;
  return i;
}

// What make_plan gives for kLock: flask and fromurl served, onlysdist served by Pyodide's build,
// fromgit and nowheel refused.
plan::Plan test_plan() {
  plan::Plan p;
  p.items = {item("flask", "3.0.0", 5000), item("fromurl", "2.0", 3000),
             item("onlysdist", "1.1", std::nullopt, plan::Origin::pyodide)};
  p.problems = {
      {"fromgit", "fromgit 1.0 comes from git (https://git.invalid/fromgit): only wheels run on Pyodide",
       "build a wheel"},
      {"nowheel", "nowheel 0.5: no wheel in the lock runs on Pyodide 0.29.3; the lock has only manylinux wheels",
       "re-lock for Pyodide"}};
  p.warnings = {"other: using Pyodide's build 2.0 instead of the locked 1.0"};
  return p;
}

const check::Finding* find_code(const check::Check& c, const std::string& code) {
  for (const auto& f : c.findings)
    if (f.code == code) return &f;
  return nullptr;
}

size_t count_code(const check::Check& c, const std::string& code) {
  size_t n = 0;
  for (const auto& f : c.findings) n += f.code == code;
  return n;
}

void write(const stdfs::path& p, const std::string& text) {
  stdfs::create_directories(p.parent_path());
  fs::write_file_atomic(p, text);
}

// A bundle as `pybundle build --no-snapshot` writes it.
void make_bundle(const stdfs::path& dir, const std::map<std::string, std::string>& files) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  std::string lines;
  for (const auto& [rel, text] : files) {  // std::map: sorted by path, as the manifest is
    write(dir / rel, text);
    auto sha = sha256_hex(text);
    list.push_back({{"path", rel}, {"sha256", sha}, {"size", text.size()}});
    lines += rel + "\t" + sha + "\n";
  }
  nlohmann::ordered_json m;
  m["schema"] = 1;
  m["tool"] = "pybundle 0.1.0";
  m["target"] = {{"pyodide", "0.29.3"}, {"python", "3.13.2"}, {"abi", "2025_0"}, {"platform", "emscripten_4_0_9"}};
  m["entry"] = {{"path", "app/app.py"}, {"module", "app"}};
  m["packages"] = nlohmann::ordered_json::array();
  m["files"] = list;
  m["digest"] = sha256_hex(lines);
  m["snapshot"] = nullptr;
  write(dir / "bundle.json", m.dump(2) + "\n");
}

const std::map<std::string, std::string> kFiles = {
    {"app/app.py", "def on_fetch(request):\n    return 'hi'\n"},
    {"python_modules/lib/__init__.py", "X = 1\n"},
    {"python_modules/lib/data.txt", std::string(3000, 'a')},
};

check::Check run_files(const stdfs::path& dir) {
  std::optional<bundle::Manifest> m;
  auto mc = check::manifest(dir, m);
  REQUIRE(mc.status() == Status::pass);
  return check::files(dir, *m);
}

}  // namespace

TEST_CASE("from_error splits a file:line prefix off the message") {
  auto f = check::from_error(file_error("pyproject.toml", 12, "[tool.pybundle] size-budget: not a size"),
                             "pyproject-invalid");
  CHECK(f.file == "pyproject.toml");
  CHECK(f.line == 12);
  CHECK(f.message == "[tool.pybundle] size-budget: not a size");
  CHECK(f.exit == Exit::usage);
  CHECK(f.code == "pyproject-invalid");

  auto g = check::from_error(Error("uv.lock: unsupported version 9", Exit::usage), "lock-invalid");
  CHECK(g.file == "uv.lock");
  CHECK(g.line == 0);

  // Not a file: kept whole.
  auto h = check::from_error(Error("package 'foo': bad hash"), "x");
  CHECK(h.file.empty());
  CHECK(h.message == "package 'foo': bad hash");
  auto u = check::from_error(Error("https://host.invalid/x: 404"), "x");
  CHECK(u.file.empty());
}

TEST_CASE("the exit code is 0 without errors, else the gravest class among the errors") {
  check::Report r;
  r.checks.push_back({.name = "a"});
  r.checks[0].add({.severity = Severity::warning, .code = "w", .message = "m"});
  CHECK(r.ok());
  CHECK(r.exit_code() == Exit::ok);
  r.checks[0].add({.code = "e", .message = "m"});
  CHECK(r.exit_code() == Exit::problems);
  r.checks.push_back({.name = "b"});
  r.checks[1].add({.code = "cfg", .message = "m", .exit = Exit::usage});
  CHECK(r.exit_code() == Exit::usage);
  r.checks[1].add({.code = "net", .message = "m", .exit = Exit::io});
  CHECK(r.exit_code() == Exit::io);
  // A usage-class warning does not change it.
  r.checks[1].add({.severity = Severity::warning, .code = "x", .message = "m", .exit = Exit::internal});
  CHECK(r.exit_code() == Exit::io);
  CHECK(r.count(Severity::error) == 3);
}

TEST_CASE("check status: skip, fail on an error, warn on a warning, else pass") {
  check::Check c{.name = "x"};
  CHECK(c.status() == Status::pass);
  c.add({.severity = Severity::note, .code = "n", .message = "m"});
  CHECK(c.status() == Status::pass);
  c.add({.severity = Severity::warning, .code = "w", .message = "m"});
  CHECK(c.status() == Status::warn);
  c.add({.code = "e", .message = "m"});
  CHECK(c.status() == Status::fail);
  c.skip("no runtime");
  CHECK(c.status() == Status::skip);
  CHECK(c.summary == "no runtime");
}

TEST_CASE("lock-fresh: a dependency added to pyproject.toml after locking is named") {
  auto lock = test_lock();
  auto fresh = project::parse(
      "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\n"
      "dependencies = [\"flask\", \"fromgit\", \"fromurl\", \"onlysdist\", \"nowheel\"]\n",
      "/p/pyproject.toml");
  auto c = check::lock_fresh(fresh, lock);
  CHECK(c.status() == Status::pass);
  CHECK(c.metrics["differences"] == 0);

  auto stale = project::parse(
      "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\n"
      "dependencies = [\"flask\", \"fromgit\", \"fromurl\", \"onlysdist\", \"nowheel\", \"requests>=2\"]\n",
      "/p/pyproject.toml");
  c = check::lock_fresh(stale, lock);
  CHECK(c.status() == Status::fail);
  REQUIRE(count_code(c, "lock-stale") >= 1);
  auto f = find_code(c, "lock-stale");
  CHECK(f->message.find("requests") != std::string::npos);
  CHECK(f->file == "/p/uv.lock");
  CHECK(f->fix.find("uv lock") != std::string::npos);
  CHECK(f->exit == Exit::problems);
}

TEST_CASE("servable and sources split the plan's problems by the package's source") {
  auto lock = test_lock();
  auto plan = test_plan();
  auto s = check::servable(plan, lock);
  CHECK(s.status() == Status::fail);
  CHECK(count_code(s, "unservable") == 1);  // nowheel; fromgit goes to `sources`
  auto f = find_code(s, "unservable");
  CHECK(f->message.find("nowheel") != std::string::npos);
  CHECK(f->line == lock.find("nowheel").front()->line);
  CHECK(f->line > 0);
  CHECK(f->fix == "re-lock for Pyodide");
  CHECK(count_code(s, "pyodide-version") == 1);
  CHECK(s.metrics["packages"] == 3);
  CHECK(s.metrics["unservable"] == 1);

  auto src = check::sources(plan, lock);
  CHECK(src.status() == Status::fail);
  REQUIRE(find_code(src, "git-source"));
  CHECK(find_code(src, "git-source")->line == lock.find("fromgit").front()->line);
  REQUIRE(find_code(src, "url-source"));
  CHECK(find_code(src, "url-source")->severity == Severity::error);
  CHECK(find_code(src, "url-source")->message.find("fromurl 2.0 comes from a direct URL") != std::string::npos);
  REQUIRE(find_code(src, "sdist-only"));
  CHECK(find_code(src, "sdist-only")->severity == Severity::warning);  // Pyodide's build serves it
  CHECK(src.findings.size() == 3);
}

TEST_CASE("sources: a plan of index wheels passes") {
  auto lock = test_lock();
  plan::Plan p;
  p.items = {item("flask", "3.0.0", 5000)};
  CHECK(check::sources(p, lock).status() == Status::pass);
  CHECK(check::servable(p, lock).status() == Status::pass);
}

TEST_CASE("size: the wheel sizes summed against the budget; over it, the largest packages") {
  auto plan = test_plan();
  auto c = check::estimated_size(plan, std::nullopt);
  CHECK(c.status() == Status::pass);
  CHECK(c.metrics["estimated_bytes"] == 8000);
  CHECK(c.metrics["budget_bytes"].is_null());
  CHECK(c.summary.find("estimated") != std::string::npos);
  CHECK(count_code(c, "size-unknown") == 1);  // Pyodide's onlysdist has no size in the lock

  c = check::estimated_size(plan, check::Budget{8000, "--size-budget"});
  CHECK(c.status() == Status::pass);
  c = check::estimated_size(plan, check::Budget{7999, "PYBUNDLE_SIZE_BUDGET"});
  CHECK(c.status() == Status::fail);
  auto f = find_code(c, "size-over-budget");
  REQUIRE(f);
  CHECK(f->message.find("7.8 KiB") != std::string::npos);
  CHECK(f->message.find("PYBUNDLE_SIZE_BUDGET") != std::string::npos);
  REQUIRE(count_code(c, "size-largest") == 2);
  CHECK(c.findings[2].message == "flask-3.0.0-py3-none-any.whl: 4.9 KiB");  // largest first

  // The app's own files are uploaded too: within budget without them, over it with them.
  c = check::estimated_size(plan, check::Budget{10000, "--size-budget"});
  CHECK(c.status() == Status::pass);
  c = check::estimated_size(plan, check::Budget{10000, "--size-budget"}, 6000);
  CHECK(c.status() == Status::fail);
  CHECK(c.metrics["estimated_bytes"] == 14000);
  CHECK(c.metrics["app_bytes"] == 6000);
  CHECK(c.summary.find("and the app's 5.9 KiB") != std::string::npos);
  REQUIRE(count_code(c, "size-largest") == 3);
  CHECK(c.findings[2].message == "app/ (the project's own files): 5.9 KiB");
}

TEST_CASE("human_size") {
  CHECK(check::human_size(0) == "0 B");
  CHECK(check::human_size(1023) == "1023 B");
  CHECK(check::human_size(1536) == "1.5 KiB");
  CHECK(check::human_size(10u << 20) == "10.0 MiB");
}

TEST_CASE("manifest: a missing directory is a usage error, a missing or malformed bundle.json a problem") {
  TempDir t;
  std::optional<bundle::Manifest> m;
  auto c = check::manifest(t.path / "nope", m);
  REQUIRE(c.findings.size() == 1);
  CHECK(c.findings[0].code == "bundle-missing");
  CHECK(c.findings[0].exit == Exit::usage);

  c = check::manifest(t.path, m);
  CHECK(find_code(c, "manifest-missing"));
  CHECK(find_code(c, "manifest-missing")->exit == Exit::problems);

  write(t.path / "bundle.json", "{not json");
  c = check::manifest(t.path, m);
  CHECK(find_code(c, "manifest-invalid"));

  // Found by tests/fuzz/fuzz_bundlejson: a number too large for a double is JSON's out_of_range,
  // not a parse_error, and escaped the check.
  write(t.path / "bundle.json", "48e535eb0857=940c624e9c{\"schema\"e832348e535eb0857=940c624e9ca\",\n {e");
  CHECK_NOTHROW(c = check::manifest(t.path, m));
  CHECK(find_code(c, "manifest-invalid"));
  write(t.path / "bundle.json", R"({"schema": 1e999})");
  CHECK_NOTHROW(c = check::manifest(t.path, m));
  CHECK(find_code(c, "manifest-invalid"));

  // Nested 200000 deep: refused before a parser recurses into it (the stack overflowed).
  write(t.path / "bundle.json", "{\"schema\": 1, \"x\": " + std::string(200000, '[') + std::string(200000, ']') + "}");
  CHECK_NOTHROW(c = check::manifest(t.path, m));
  REQUIRE(find_code(c, "manifest-invalid"));
  CHECK(find_code(c, "manifest-invalid")->message.find("nested deeper than 100") != std::string::npos);

  write(t.path / "bundle.json", R"({"schema": 2})");
  c = check::manifest(t.path, m);
  REQUIRE(find_code(c, "manifest-invalid"));
  CHECK(find_code(c, "manifest-invalid")->message.find("schema 2") != std::string::npos);

  make_bundle(t.path, kFiles);
  c = check::manifest(t.path, m);
  CHECK(c.status() == Status::pass);
  CHECK(m->files.size() == 3);
}

TEST_CASE("manifest: listed paths outside python_modules/ and app/ are refused before anything is opened") {
  TempDir t;
  make_bundle(t.path, kFiles);
  auto doc = nlohmann::json::parse(fs::read_file(t.path / "bundle.json"));
  for (const char* bad : {"../etc/passwd", "/etc/passwd", "app/../../x", "bundle.json", "app//x", "app/./x"}) {
    auto copy = doc;
    copy["files"][0]["path"] = bad;
    write(t.path / "bundle.json", copy.dump());
    std::optional<bundle::Manifest> m;
    auto c = check::manifest(t.path, m);
    CAPTURE(bad);
    CHECK(find_code(c, "manifest-invalid"));
    CHECK_FALSE(m);
  }
}

TEST_CASE("files: an untouched bundle passes") {
  TempDir t;
  make_bundle(t.path, kFiles);
  auto c = run_files(t.path);
  CHECK(c.status() == Status::pass);
  CHECK(c.metrics["files"] == 3);
  CHECK(c.summary.find("all match bundle.json") != std::string::npos);
}

TEST_CASE("files: changed, missing and extra files are each named") {
  TempDir t;
  make_bundle(t.path, kFiles);
  write(t.path / "app/app.py", "def on_fetch(request):\n    return 'HI'\n");  // same size, other bytes
  write(t.path / "python_modules/lib/data.txt", "short");                     // other size
  stdfs::remove(t.path / "python_modules/lib/__init__.py");
  write(t.path / "python_modules/lib/evil.py", "import os\n");
  write(t.path / "notes.txt", "hello");
  auto c = run_files(t.path);
  CHECK(c.status() == Status::fail);
  CHECK(count_code(c, "file-changed") == 2);
  CHECK(count_code(c, "file-missing") == 1);
  CHECK(count_code(c, "file-extra") == 2);
  auto shown = [&](const std::string& rel) { return check::shown(t.path, rel); };
  bool saw_app = false, saw_size = false;
  for (const auto& f : c.findings) {
    if (f.code == "file-changed" && f.file == shown("app/app.py"))
      saw_app = f.message.find("sha256") != std::string::npos;
    if (f.code == "file-changed" && f.file == shown("python_modules/lib/data.txt"))
      saw_size = f.message.find("size 5 bytes, bundle.json says 3000") != std::string::npos;
  }
  CHECK(saw_app);
  CHECK(saw_size);
  CHECK(find_code(c, "file-missing")->file == shown("python_modules/lib/__init__.py"));
  CHECK(c.metrics["changed"] == 2);
  CHECK(c.metrics["missing"] == 1);
  CHECK(c.metrics["extra"] == 2);
}

TEST_CASE("files: an edited list no longer matches the digest; links are not files") {
  TempDir t;
  make_bundle(t.path, kFiles);
  auto doc = nlohmann::ordered_json::parse(fs::read_file(t.path / "bundle.json"));
  doc["files"].erase(1);  // hide python_modules/lib/__init__.py
  write(t.path / "bundle.json", doc.dump(2));
  stdfs::create_symlink("/etc/passwd", t.path / "app/link.py");
  auto c = run_files(t.path);
  CHECK(find_code(c, "digest-mismatch"));
  CHECK(find_code(c, "file-not-regular"));
  CHECK(find_code(c, "file-not-regular")->message.find("symbolic link") != std::string::npos);
  CHECK(count_code(c, "file-extra") == 1);  // the file the list no longer names
}

TEST_CASE("files: a snapshot is allowed only when bundle.json has one") {
  TempDir t;
  make_bundle(t.path, kFiles);
  write(t.path / "snapshot.bin.zst", "x");
  auto c = run_files(t.path);
  REQUIRE(find_code(c, "file-extra"));
  CHECK(find_code(c, "file-extra")->file == check::shown(t.path, "snapshot.bin.zst"));
  auto doc = nlohmann::ordered_json::parse(fs::read_file(t.path / "bundle.json"));
  doc["snapshot"] = {{"file", "snapshot.bin.zst"}, {"sha256", sha256_hex("x")}, {"size", 1}};
  write(t.path / "bundle.json", doc.dump(2));
  CHECK(run_files(t.path).status() == Status::pass);
}

TEST_CASE("measure: the gzip size of the tar stream, deterministic") {
  TempDir t;
  make_bundle(t.path, kFiles);
  std::mt19937 rng(7);
  std::string noise(200000, '\0');
  for (auto& ch : noise) ch = static_cast<char>(rng());
  write(t.path / "python_modules/lib/noise.bin", noise);
  write(t.path / "python_modules/lib/zeros.bin", std::string(1 << 20, '\0'));
  auto m = check::measure(t.path);
  CHECK(m.files == 6);
  uint64_t listed = 0;
  for (const auto& [_, text] : kFiles) listed += text.size();
  CHECK(m.bytes == (1u << 20) + 200000 + listed + stdfs::file_size(t.path / "bundle.json"));
  CHECK(m.tar_bytes >= m.bytes);
  CHECK(m.gzip_bytes > 200000);          // noise does not compress
  CHECK(m.gzip_bytes < 200000 + 20000);  // a MiB of zeros nearly vanishes
  CHECK(check::measure(t.path).gzip_bytes == m.gzip_bytes);
}

TEST_CASE("size: the upload's gzip size against the budget, the whole bundle's beside it") {
  TempDir t;
  std::mt19937 rng(7);
  auto noise = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    return s;
  };
  auto files = kFiles;
  files["python_modules/lib/noise.bin"] = noise(50000);
  make_bundle(t.path, files);
  write(t.path / "snapshot.bin.zst", noise(100000));  // in the bundle, not in the upload
  auto manifest = bundle::read(t.path);
  auto c = check::bundle_size(t.path, manifest, std::nullopt);
  CHECK(c.status() == Status::pass);
  auto upload = c.metrics["gzip_bytes"].get<uint64_t>();
  CHECK(upload > 50000);
  CHECK(upload < 55000);
  CHECK(c.metrics["bundle_gzip_bytes"].get<uint64_t>() > upload + 100000);
  CHECK(c.metrics["files"] == 4);

  c = check::bundle_size(t.path, manifest, check::Budget{upload, "--size-budget"});
  CHECK(c.status() == Status::pass);
  c = check::bundle_size(t.path, manifest, check::Budget{upload - 1, "--size-budget"});
  CHECK(c.status() == Status::fail);
  REQUIRE(find_code(c, "size-over-budget"));
  CHECK(find_code(c, "size-over-budget")->message.starts_with("the upload (app/ and python_modules/) is "));
  CHECK(count_code(c, "size-largest") == 4);  // the uploaded files, the snapshot not among them
  CHECK(c.findings[1].message == "python_modules/lib/noise.bin: 48.8 KiB");
  CHECK(c.metrics["largest"].size() == 4);
}

namespace {
check::Report sample_report() {
  check::Report r;
  r.kind = "bundle";
  r.path = "out";
  r.target = "pyodide@0.29.3";
  check::Check files{.name = "files", .title = "every file matches bundle.json", .summary = "3 files"};
  files.add(
      {.code = "file-changed", .message = "app/app.py: changed, 50% more", .file = "out/app/app.py", .fix = "rebuild"});
  files.add({.severity = Severity::warning, .code = "w", .message = "line one\nline two", .file = "a,b:c"});
  files.add({.severity = Severity::note, .code = "n", .message = "no file"});
  r.checks.push_back(files);
  check::Check smoke{.name = "smoke", .title = "imports"};
  smoke.skip("--skip smoke");
  r.checks.push_back(smoke);
  check::Check lock{.name = "lock-fresh", .title = "fresh"};
  lock.add({.code = "lock-stale", .message = "out of date", .file = "uv.lock", .line = 7});
  r.checks.push_back(lock);
  return r;
}
}  // namespace

TEST_CASE("github format: one workflow command per line, with escapes") {
  auto text = check::render_github(sample_report());
  std::vector<std::string> lines;
  for (size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    lines.push_back(text.substr(start, nl - start));
  REQUIRE(lines.size() == 5);
  CHECK(lines[0] ==
        "::error file=out/app/app.py,title=pybundle files%3A file-changed::app/app.py: changed, 50%25 more (fix: "
        "rebuild)");
  CHECK(lines[1] == "::warning file=a%2Cb%3Ac,title=pybundle files%3A w::line one%0Aline two");
  CHECK(lines[2] == "::notice title=pybundle files%3A n::no file");
  CHECK(lines[3] == "::error file=uv.lock,line=7,title=pybundle lock-fresh%3A lock-stale::out of date");
  CHECK(lines[4] == "::notice title=pybundle check::failed: 2 errors, 1 warning in 3 checks");
}

TEST_CASE("json format: every key, always present") {
  auto j = check::to_json(sample_report());
  CHECK(j["schema"] == 1);
  CHECK(j["kind"] == "bundle");
  CHECK(j["ok"] == false);
  CHECK(j["exit_code"] == 1);
  CHECK(j["counts"]["error"] == 2);
  CHECK(j["counts"]["warning"] == 1);
  CHECK(j["counts"]["note"] == 1);
  REQUIRE(j["checks"].size() == 3);
  CHECK(j["checks"][0]["status"] == "fail");
  CHECK(j["checks"][1]["status"] == "skip");
  CHECK(j["checks"][1]["summary"] == "--skip smoke");
  auto f = j["checks"][0]["findings"][2];
  CHECK(f["file"].is_null());
  CHECK(f["line"].is_null());
  CHECK(f["fix"].is_null());
  CHECK(j["checks"][2]["findings"][0]["line"] == 7);
}

TEST_CASE("human format: quiet prints only errors; colour only when asked") {
  auto r = sample_report();
  auto quiet = check::render_human(r, {.quiet = true});
  CHECK(quiet ==
        "error[file-changed]: out/app/app.py: app/app.py: changed, 50% more\n"
        "error[lock-stale]: uv.lock:7: out of date\n");
  auto plain = check::render_human(r, {});
  CHECK(plain.find('\033') == std::string::npos);
  CHECK(plain.find("  FAIL files") != std::string::npos);
  CHECK(plain.find("  skip smoke") != std::string::npos);
  CHECK(plain.find("fix: rebuild") != std::string::npos);
  CHECK(plain.find("failed: 2 errors, 1 warning in 3 checks (exit 1)") != std::string::npos);
  auto colour = check::render_human(r, {.color = true});
  CHECK(colour.find("\033[1;31mFAIL\033[0m") != std::string::npos);

  check::Report many;
  many.kind = "bundle";
  many.checks.push_back({.name = "files"});
  for (int i = 0; i < 25; ++i) many.checks[0].add({.code = "file-extra", .message = "f" + std::to_string(i)});
  auto text = check::render_human(many, {});
  CHECK(text.find("f19") != std::string::npos);
  CHECK(text.find("f20") == std::string::npos);
  CHECK(text.find("and 5 more") != std::string::npos);
  CHECK(check::render_human(many, {.verbose = 1}).find("f24") != std::string::npos);
}

// ---- Checks against the runtime: snapshot facts and the host's answers ---------------------------

namespace {

// A snapshot file made for `manifest`'s digest by `runtime` (the payload is not a real heap: the
// check reads only the header).
void write_snapshot(const stdfs::path& bundle, const runtime::RuntimeInfo& runtime, const std::string& digest,
                    const std::string& pyodide) {
  nlohmann::json meta = {{"pyodide", pyodide},
                         {"build_id", runtime.build_id},
                         {"bundle_digest", digest},
                         {"heap_size", 65536},
                         {"modules", {"app"}}};
  std::string raw(16 + 65536, 'h');  // Pyodide's header: magic, then the heap's offset (16); one page
  raw[4] = 16;
  raw[5] = raw[6] = raw[7] = 0;
  snapshot::write_snapshot_file(bundle / "snapshot.bin.zst", meta, raw, 3);
  auto doc = nlohmann::ordered_json::parse(fs::read_file(bundle / "bundle.json"));
  doc["snapshot"] = {{"file", "snapshot.bin.zst"},
                     {"sha256", sha256_file(bundle / "snapshot.bin.zst")},
                     {"size", stdfs::file_size(bundle / "snapshot.bin.zst")},
                     {"pyodide", pyodide}};
  write(bundle / "bundle.json", doc.dump(2));
}

bundle::Manifest load_manifest(const stdfs::path& bundle) {
  std::optional<bundle::Manifest> m;
  REQUIRE(check::manifest(bundle, m).status() == Status::pass);
  return *m;
}

}  // namespace

TEST_CASE("snapshot: made for this bundle by this runtime passes; another version, build or bundle does not") {
  TempDir t;
  make_bundle(t.path, kFiles);
  runtime::RuntimeInfo runtime{t.path, "0.29.3", std::string(64, 'b')};
  auto digest = load_manifest(t.path).digest;

  auto none = check::snapshot(t.path, load_manifest(t.path), runtime);
  CHECK(none.status() == Status::pass);
  CHECK(find_code(none, "no-snapshot"));

  write_snapshot(t.path, runtime, digest, "0.29.3");
  auto ok = check::snapshot(t.path, load_manifest(t.path), runtime);
  CHECK(ok.status() == Status::pass);
  CHECK(ok.metrics["heap_bytes"] == 65536);
  CHECK(ok.metrics["modules"] == 1);

  write_snapshot(t.path, runtime, digest, "0.27.7");
  auto other = check::snapshot(t.path, load_manifest(t.path), runtime);
  REQUIRE(find_code(other, "snapshot-stale"));
  CHECK(find_code(other, "snapshot-stale")->message.find("made with Pyodide 0.27.7, the runtime is Pyodide 0.29.3") !=
        std::string::npos);
  CHECK(find_code(other, "snapshot-stale")->file == check::shown(t.path, "snapshot.bin.zst"));

  write_snapshot(t.path, {t.path, "0.29.3", std::string(64, 'c')}, digest, "0.29.3");
  CHECK(find_code(check::snapshot(t.path, load_manifest(t.path), runtime), "snapshot-stale")
            ->message.find("different build") != std::string::npos);

  write_snapshot(t.path, runtime, std::string(64, '0'), "0.29.3");
  CHECK(find_code(check::snapshot(t.path, load_manifest(t.path), runtime), "snapshot-stale"));
}

TEST_CASE("snapshot: a missing, resized or rewritten file is named before its header is read") {
  TempDir t;
  make_bundle(t.path, kFiles);
  runtime::RuntimeInfo runtime{t.path, "0.29.3", std::string(64, 'b')};
  write_snapshot(t.path, runtime, load_manifest(t.path).digest, "0.29.3");
  auto m = load_manifest(t.path);

  auto bytes = fs::read_file(t.path / "snapshot.bin.zst");
  bytes.back() ^= 1;
  write(t.path / "snapshot.bin.zst", bytes);
  CHECK(find_code(check::snapshot(t.path, m, runtime), "snapshot-changed"));
  write(t.path / "snapshot.bin.zst", bytes + "x");
  CHECK(find_code(check::snapshot(t.path, m, runtime), "snapshot-changed")->message.find("bytes, bundle.json says") !=
        std::string::npos);
  stdfs::remove(t.path / "snapshot.bin.zst");
  CHECK(find_code(check::snapshot(t.path, m, runtime), "snapshot-missing"));
  write(t.path / "snapshot.bin.zst", "not a snapshot");
  m.snapshot->size = 14;
  m.snapshot->sha256 = sha256_hex("not a snapshot");
  CHECK(find_code(check::snapshot(t.path, m, runtime), "snapshot-invalid"));
  auto doc = nlohmann::ordered_json::parse(fs::read_file(t.path / "bundle.json"));
  doc["snapshot"]["file"] = "../elsewhere";
  write(t.path / "bundle.json", doc.dump(2));
  std::optional<bundle::Manifest> refused;
  CHECK(find_code(check::manifest(t.path, refused), "manifest-invalid"));
}

TEST_CASE("traceback_place: the innermost frame inside the bundle") {
  std::string tb =
      "Traceback (most recent call last):\n"
      "  File \"<pybundle>\", line 31, in import_modules\n"
      "  File \"/lib/python313.zip/importlib/__init__.py\", line 88, in import_module\n"
      "  File \"/bundle/app/app.py\", line 2, in <module>\n"
      "  File \"/bundle/python_modules/lib/core.py\", line 17, in helper\n"
      "  File \"/lib/python313.zip/json/__init__.py\", line 3, in loads\n"
      "ValueError: boom\n";
  auto [file, line] = check::traceback_place("out", bundle::Manifest{}, tb);
  CHECK(file == "out/python_modules/lib/core.py");
  CHECK(line == 17);
  CHECK(check::traceback_place("out", bundle::Manifest{}, "no frames").first.empty());
}

TEST_CASE("traceback_place: app/ frames named by their project path map back into the bundle") {
  std::string tb =
      "Traceback (most recent call last):\n"
      "  File \"src/notes/store.py\", line 12, in <module>\n"
      "  File \"/lib/python313.zip/json/__init__.py\", line 3, in loads\n"
      "ValueError: boom\n";
  bundle::Manifest m;
  m.entry = bundle::Entry{"app/app.py", "app", "src/app.py"};
  auto [file, line] = check::traceback_place("out", m, tb);
  CHECK(file == "out/app/notes/store.py");
  CHECK(line == 12);
  m.entry->source = "app.py";  // flat layout: app/ is the project root
  CHECK(check::traceback_place("out", m, "  File \"notes/store.py\", line 3, in f\n").first ==
        "out/app/notes/store.py");
  m.entry->source.clear();  // a bundle that does not record it
  CHECK(check::traceback_place("out", m, "  File \"src/notes/store.py\", line 3, in f\n").first.empty());
  CHECK(check::traceback_place("out", m, "  File \"app/x.py\", line 3, in f\n").first == "out/app/x.py");
}

TEST_CASE("request: the host's answer read as a check") {
  TempDir t;
  make_bundle(t.path, kFiles);
  auto m = load_manifest(t.path);
  auto good = nlohmann::json::parse(
      R"j({"ok": true, "restored": false, "response": {"status": 200, "headers": {}, "body": "hi"},
                                        "timings_ms": {"runtime_ready": 812.5, "handler": 1.5}, "process_ms": 900})j");
  auto c = check::request(t.path, m, good);
  CHECK(c.status() == Status::pass);
  CHECK(c.metrics["status"] == 200);
  CHECK(c.metrics["ready_ms"] == 812.5);
  CHECK(c.summary == "GET / answered 200 after importing the entry, ready in 812.5 ms");

  m.snapshot.emplace().file = "snapshot.bin.zst";
  CHECK(find_code(check::request(t.path, m, good), "snapshot-not-restored"));
  good["restored"] = true;
  CHECK(check::request(t.path, m, good).status() == Status::pass);

  auto raised = nlohmann::json::parse(R"j({"ok": false, "error": "on_fetch raised: KeyError: 'x'",
      "traceback": "Traceback (most recent call last):\n  File \"/bundle/app/app.py\", line 9, in on_fetch\nKeyError: 'x'\n",
      "restored": true, "response": {"status": 500}})j");
  c = check::request(t.path, m, raised);
  REQUIRE(find_code(c, "request-failed"));
  auto f = find_code(c, "request-failed");
  CHECK(f->message == "on_fetch raised: KeyError: 'x'");
  CHECK(f->file == check::shown(t.path, "app/app.py"));
  CHECK(f->line == 9);
  CHECK(f->fix == "the traceback is on stderr; `pybundle run " + t.path.string() + "` reproduces it");
  auto spaced = t.path / "it's here";
  CHECK(check::request(spaced, m, raised)
            .findings.at(0)
            .fix.find("`pybundle run '" + t.path.string() + "/it'\\''s here'`") != std::string::npos);

  auto no_handler = nlohmann::json::parse(
      R"j({"ok": false, "error": "LookupError: entry module 'app' (app/app.py) defines no on_fetch(request)"})j");
  CHECK(find_code(check::request(t.path, m, no_handler), "request-failed")->message.find("defines no on_fetch") !=
        std::string::npos);

  auto server_error = nlohmann::json::parse(R"j({"ok": true, "restored": true, "response": {"status": 503}})j");
  CHECK(find_code(check::request(t.path, m, server_error), "request-failed")->message.find("503") != std::string::npos);
}

TEST_CASE("entry: import errors, a missing on_fetch and a called handler, from the host's answer") {
  TempDir t;
  make_bundle(t.path, kFiles);
  auto m = load_manifest(t.path);
  auto called = nlohmann::json::parse(
      R"j({"ok": false, "error": "on_fetch raised: KeyError: 'x'", "response": {"status": 500}})j");
  auto c = check::entry(t.path, m, called);
  CHECK(c.status() == Status::pass);  // on_fetch exists; `request` reports what it did
  CHECK(c.summary == "app.on_fetch found (module-level on_fetch style)");
  CHECK(c.metrics["style"] == "on_fetch");
  auto workers = nlohmann::json::parse(R"j({"ok": true, "entry_style": "workers", "response": {"status": 200}})j");
  c = check::entry(t.path, m, workers);
  CHECK(c.summary.find("app.Default.fetch found (Cloudflare Workers style") == 0);
  CHECK(c.metrics["style"] == "workers");

  auto import_error =
      nlohmann::json::parse(R"j({"ok": false, "module": "app", "error": "importing 'app' failed: ImportError: no x",
      "traceback": "  File \"/bundle/app/app.py\", line 3, in <module>\nImportError: no x\n"})j");
  c = check::entry(t.path, m, import_error);
  REQUIRE(find_code(c, "import-error"));
  CHECK(find_code(c, "import-error")->file == check::shown(t.path, "app/app.py"));
  CHECK(find_code(c, "import-error")->line == 3);

  auto no_handler = nlohmann::json::parse(
      R"j({"ok": false, "error": "LookupError: entry module 'app' (app/app.py) defines no on_fetch(request)"})j");
  c = check::entry(t.path, m, no_handler);
  REQUIRE(find_code(c, "no-on-fetch"));
  CHECK(find_code(c, "no-on-fetch")->file == check::shown(t.path, "app/app.py"));

  CHECK(find_code(check::entry(t.path, m, nlohmann::json::parse(R"j({"ok": false, "error": "host died"})j")),
                  "entry-error"));
  m.entry.reset();
  CHECK(find_code(check::entry(t.path, m, called), "no-entry"));
}

TEST_CASE("inspect: files grouped by the distribution whose RECORD names their top-level module") {
  TempDir t;
  make_bundle(t.path,
              {
                  {"app/app.py", "import big\n"},
                  {"python_modules/big/__init__.py", std::string(5000, 'x')},
                  {"python_modules/big/__pycache__/__init__.cpython-313.pyc", "bytecode"},  // --compile: in no RECORD
                  {"python_modules/Big_Pkg-2.0.dist-info/RECORD",
                   "big/__init__.py,sha256=x,5000\nBig_Pkg-2.0.dist-info/RECORD,,\n"},
                  {"python_modules/small.py", "S = 1\n"},
                  {"python_modules/__pycache__/small.cpython-313.pyc", "b"},
                  {"python_modules/small-1.0.dist-info/RECORD", "small.py,,\n"},
                  {"python_modules/stray/x.py", "y = 2\n"},
              });
  auto m = bundle::read(t.path);
  m.packages = {{"big-pkg", "2.0", "", std::nullopt, std::nullopt}, {"small", "1.0", "", std::nullopt, std::nullopt}};
  auto r = check::inspect(t.path, m);
  CHECK_FALSE(r.import_times);
  REQUIRE(r.contributors.size() == 4);
  CHECK(r.contributors[0].name == "big-pkg");  // most gzip bytes first
  CHECK(r.contributors[0].version == "2.0");
  CHECK(r.contributors[0].files == 3);
  CHECK(r.contributors[0].modules == std::vector<std::string>{"big"});
  std::map<std::string, uint64_t> files;
  double shares = 0;
  for (const auto& c : r.contributors) {
    files[c.name] = c.files;
    shares += c.share;
    CHECK_FALSE(c.import_ms);
  }
  CHECK(files == std::map<std::string, uint64_t>{{"(app)", 1}, {"(other)", 1}, {"big-pkg", 3}, {"small", 3}});
  CHECK(shares == doctest::Approx(1.0));
  CHECK(r.files == 8);
  CHECK(r.gzip_bytes < r.bytes);
  CHECK(check::top_contributors(r, 1).starts_with("big-pkg 2.0 ("));

  fs::write_file_atomic(t.path / "import-times.json",
                        R"j([{"where": "python_modules", "module": "big", "ms": 12.5},
                     {"where": "python_modules", "module": "small", "ms": 1.5},
                     {"where": "app", "module": "app", "ms": 0.5}])j");
  r = check::inspect(t.path, m);
  CHECK(r.import_times);
  for (const auto& c : r.contributors) {
    if (c.name == "(other)") {  // nothing of it was imported: no time, not 0 ms
      CHECK_FALSE(c.import_ms);
      continue;
    }
    REQUIRE(c.import_ms);
    if (c.name == "big-pkg") CHECK(*c.import_ms == 12.5);
    if (c.name == "(app)") CHECK(*c.import_ms == 0.5);
  }
}

TEST_CASE("wrangler: flags per Python, worker names, gzip of files one after another") {
  CHECK(vendor::python_worker_flags("3.13.2", true) == std::vector<std::string>{"python_workers"});
  CHECK(vendor::python_worker_flags("3.12.7", true) ==
        std::vector<std::string>{"python_workers", "no_python_workers_20250116"});
  CHECK(vendor::python_worker_flags("3.14.2", false) ==
        std::vector<std::string>{"python_workers", "python_workers_20260610", "disable_python_no_global_handlers"});
  // Before 2025-09-29 python_workers alone runs 3.12: 3.13 needs its flag, 3.12 none.
  CHECK(vendor::python_worker_flags("3.13.2", true, "2025-06-01") ==
        std::vector<std::string>{"python_workers", "python_workers_20250116"});
  CHECK(vendor::python_worker_flags("3.12.7", true, "2025-06-01") == std::vector<std::string>{"python_workers"});
  CHECK(vendor::python_worker_flags("3.13.2", true, "2025-09-29") == std::vector<std::string>{"python_workers"});
  CHECK_THROWS_WITH_AS(vendor::python_worker_flags("3.11.3", true),
                       doctest::Contains("no Cloudflare Python Workers runtime runs Python 3.11.3"), Error);
  // The entry's style is read from its code, not from what its docstring or comments mention.
  CHECK(vendor::is_class_style("from workers import WorkerEntrypoint\nclass Default(WorkerEntrypoint):\n  pass\n"));
  CHECK(vendor::is_class_style("from handlers import Default\n"));
  CHECK_FALSE(vendor::is_class_style("\"\"\"Not a class Default(WorkerEntrypoint).\"\"\"\ndef on_fetch(r):\n  pass\n"));
  CHECK_FALSE(
      vendor::is_class_style("# unlike class Default(WorkerEntrypoint)\ndef on_fetch(r):\n  return 'Default'\n"));
  CHECK_FALSE(vendor::is_class_style("Default = {'a': 1}\ndef on_fetch(r):\n  return Default\n"));
  CHECK_FALSE(vendor::is_class_style("s = 'it\\'s \"\"\"'\nDefaults = 1\ndef on_fetch(r): pass\n"));
  CHECK(vendor::worker_name("My App_2!") == "my-app-2");
  CHECK(vendor::worker_name("--") == "worker");

  TempDir t;
  write(t.path / "a", std::string(1000, 'a'));
  write(t.path / "b", std::string(1000, 'b'));
  write(t.path / "ab", std::string(1000, 'a') + std::string(1000, 'b'));
  auto two = vendor::gzip_concat_size({t.path / "a", t.path / "b"});
  CHECK(two == vendor::gzip_concat_size({t.path / "ab"}));
  CHECK(two < 100);
  CHECK(vendor::gzip_concat_size({}) == 20);  // gzip header, an empty deflate stream, the trailer
}
