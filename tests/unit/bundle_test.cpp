// bundle::Manifest: bundle.json read and written byte for byte, one-line errors naming the field,
// the digest, the scan that hashes only what changed, and verify.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "bundle/manifest.hpp"
#include "testing.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

using namespace pb;
namespace stdfs = std::filesystem;
using pb::testing::TempDir;

namespace {

void write(const stdfs::path& p, const std::string& text) {
  stdfs::create_directories(p.parent_path());
  fs::write_file_atomic(p, text);
}

// What `pybundle build` wrote before the manifest had a type (vendor/manifest.cpp at 26152d2), for
// a bundle with every member: target and snapshot keys in alphabetical order, entry.source, a
// wheel and a source package, name and vars last.
const char* kFull = R"({
  "schema": 1,
  "tool": "pybundle 0.1.0",
  "target": {
    "abi": "2025_0",
    "platform": "emscripten_4_0_9",
    "pyodide": "0.29.3",
    "python": "3.13.2"
  },
  "entry": {
    "path": "app/app.py",
    "module": "app",
    "source": "src/app.py"
  },
  "packages": [
    {
      "name": "mylib",
      "version": "0.1.0",
      "origin": "source",
      "wheel": null,
      "sha256": null
    },
    {
      "name": "six",
      "version": "1.16.0",
      "origin": "lock-wheel",
      "wheel": "six-1.16.0-py2.py3-none-any.whl",
      "sha256": "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"
    }
  ],
  "files": [
    {
      "path": "app/app.py",
      "sha256": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
      "size": 1
    }
  ],
  "digest": "2f3b8a0bd3b4ce0bc6c3b0c4b84cf5ddc7e0e5e0e4d0f0d1b3e5c1b6cdbb1a55",
  "snapshot": {
    "build_id": "sha256:00ff",
    "entropy_warnings": 0,
    "file": "snapshot.bin.zst",
    "hash_seed": 2847396523,
    "heap_size": 41943040,
    "libraries": 1,
    "modules": 210,
    "pyodide": "0.29.3",
    "raw_size": 20971520,
    "recipe": {
      "entry": "app",
      "hash_seed": 2847396523,
      "preimport": [
        "json"
      ],
      "target": "pyodide@0.29.3"
    },
    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "size": 5242880
  },
  "name": "my-app",
  "vars": {
    "A": "1",
    "GREETING": "héllo \"quoted\""
  }
}
)";

// A bundle as a build leaves it: two files and its manifest.
bundle::Manifest make_bundle(const stdfs::path& dir) {
  write(dir / "app/app.py", "def on_fetch(request):\n    return 'hi'\n");
  write(dir / "python_modules/lib/__init__.py", "X = 1\n");
  bundle::Manifest m;
  m.tool = "pybundle test";
  m.target = {"2025_0", "emscripten_4_0_9", "0.29.3", "3.13.2"};
  m.entry = bundle::Entry{"app/app.py", "app", ""};
  m.rescan(dir, 0);
  m.write(dir, 0);
  return m;
}

std::string problem(std::string_view text) {
  try {
    bundle::parse(text);
  } catch (const bundle::Invalid& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("bundle.json round trips byte for byte, and a Manifest writes what the build wrote") {
  auto m = bundle::parse(kFull);
  CHECK(m.text() == kFull);
  CHECK(m.missing.empty());
  CHECK(m.target.pyodide == "0.29.3");
  CHECK(m.entry->source == "src/app.py");
  CHECK(m.snapshot->recipe->preimport == std::vector<std::string>{"json"});
  CHECK(m.vars.at("GREETING") == "héllo \"quoted\"");

  bundle::Manifest built;
  built.tool = "pybundle 0.1.0";
  built.target = {.abi = "2025_0", .platform = "emscripten_4_0_9", .pyodide = "0.29.3", .python = "3.13.2"};
  built.entry = bundle::Entry{"app/app.py", "app", "src/app.py"};
  built.packages = {{"mylib", "0.1.0", "source", std::nullopt, std::nullopt},
                    {"six", "1.16.0", "lock-wheel", "six-1.16.0-py2.py3-none-any.whl",
                     "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"}};
  built.files = {{"app/app.py", sha256_hex("a"), 1, std::nullopt}};
  built.digest = "2f3b8a0bd3b4ce0bc6c3b0c4b84cf5ddc7e0e5e0e4d0f0d1b3e5c1b6cdbb1a55";
  bundle::Snapshot s;
  s.build_id = "sha256:00ff";
  s.entropy_warnings = 0;
  s.file = "snapshot.bin.zst";
  s.hash_seed = 2847396523u;
  s.heap_size = 41943040;
  s.libraries = 1;
  s.modules = 210;
  s.pyodide = "0.29.3";
  s.raw_size = 20971520;
  s.recipe = bundle::Recipe{"app", 2847396523u, std::vector<std::string>{"json"}, "pyodide@0.29.3"};
  s.sha256 = sha256_hex("test");
  s.size = 5242880;
  built.snapshot = s;
  built.name = "my-app";
  built.vars = {{"GREETING", "héllo \"quoted\""}, {"A", "1"}};
  CHECK(built.text() == kFull);

  // No entry, no snapshot, no name or vars: null, null, left out.
  bundle::Manifest bare;
  bare.tool = "pybundle 0.1.0";
  bare.target.pyodide = "0.29.3";
  auto text = bare.text();
  CHECK(text.find("\"entry\": null,") != std::string::npos);
  CHECK(text.find("\"snapshot\": null\n}") != std::string::npos);
  CHECK(bundle::parse(text).text() == text);
}

TEST_CASE("a bad field is a one-line error naming the field") {
  auto with = [](const std::string& from, const std::string& to) {
    std::string text = kFull;
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    return text.replace(at, from.size(), to);
  };
  CHECK(problem(with("\"pyodide\": \"0.29.3\",\n    \"python\"", "\"pyodide\": 29,\n    \"python\"")) ==
        "\"target.pyodide\" is a number, not a string");
  CHECK(problem(with("\"size\": 1\n", "\"size\": -1\n")) == "\"files[0]\" is not {\"path\", \"sha256\", \"size\"}");
  CHECK(problem(with("\"path\": \"app/app.py\",\n      \"sha256\"", "\"path\": \"app/../../x\",\n      \"sha256\"")) ==
        "\"files[0]\": 'app/../../x' is not a path under python_modules/ or app/");
  CHECK(problem(with("\"file\": \"snapshot.bin.zst\"", "\"file\": \"../x\"")) ==
        "\"snapshot.file\" '../x' is not a file name");
  CHECK(problem(with("\"hash_seed\": 2847396523,\n      \"preimport\"",
                     "\"hash_seed\": 99999999999,\n      \"preimport\"")) ==
        "\"snapshot.recipe.hash_seed\" is over 4294967295");
  CHECK(problem(with("\"A\": \"1\"", "\"A\": 1")) == "\"vars.A\" is a number, not a string");
  CHECK(problem(with("\"wheel\": null", "\"wheel\": []")) == "\"packages[0].wheel\" is a list, not a string or null");
  CHECK(problem(R"({"schema": 2})") == "schema 2 is not one this pybundle reads (1)");
  CHECK(problem("[]") == "not a JSON object");
  CHECK(problem(R"({"schema": 1e999})").starts_with("not valid JSON: "));
  CHECK(problem("{\"schema\": 1, \"x\": " + std::string(200000, '[') + std::string(200000, ']') + "}") ==
        "JSON nested deeper than 100 levels");
  for (const auto& text : {with("\"size\": 1\n", "\"size\": -1\n"), std::string("{\"schema\": 1e999}")})
    CHECK(problem(text).find('\n') == std::string::npos);

  // Absent members are not errors (run needs fewer than check): they are listed.
  auto m = bundle::parse(R"({"schema": 1, "entry": {"module": "app"}, "files": []})");
  CHECK(m.missing == std::vector<std::string>{"target", "entry.path", "packages", "digest", "snapshot"});

  // read() names the file; no bundle.json is a usage error naming the directory.
  TempDir t;
  try {
    bundle::read(t.path);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::usage);
    CHECK(std::string(e.what()) == t.path.string() + ": no bundle.json here; build a bundle with `pybundle build`");
  }
  write(t.path / "bundle.json", with("\"A\": \"1\"", "\"A\": 1"));
  try {
    bundle::read(t.path);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == Exit::usage);
    CHECK(std::string(e.what()) == (t.path / "bundle.json").string() + ": \"vars.A\" is a number, not a string");
  }
}

TEST_CASE("the digest is sha256 of path TAB sha256 LF per file, and stable") {
  std::vector<bundle::File> files = {{"app/a.py", sha256_hex("a"), 1, std::nullopt},
                                     {"python_modules/b.py", sha256_hex("b"), 1, std::nullopt}};
  auto d = bundle::digest(files);
  CHECK(d == sha256_hex("app/a.py\t" + sha256_hex("a") + "\npython_modules/b.py\t" + sha256_hex("b") + "\n"));
  CHECK(bundle::digest(files) == d);
  files[1].sha256 = sha256_hex("c");
  CHECK(bundle::digest(files) != d);
  CHECK(bundle::digest({}) == sha256_hex(""));
}

TEST_CASE("scan hashes each file once: a rescan reads only what changed, and fixes modes and times") {
  TempDir t;
  auto m = make_bundle(t.path);
  REQUIRE(m.files.size() == 2);
  CHECK(m.files[0].path == "app/app.py");
  CHECK(m.files[0].sha256 == sha256_file(t.path / "app/app.py"));
  CHECK(bundle::read(t.path).text() == m.text());
  struct stat st {};
  REQUIRE(::stat((t.path / "app/app.py").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(st.st_mtim.tv_sec == 0);
  REQUIRE(::stat((t.path / "python_modules/lib").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  CHECK(st.st_mtim.tv_sec == 0);

  auto before = m.digest;
  auto stats = m.rescan(t.path, 0);
  CHECK(stats.hashed == 0);
  CHECK(stats.reused == 2);
  CHECK(m.digest == before);

  // Same size, other bytes: the change time shows it.
  write(t.path / "app/app.py", "def on_fetch(request):\n    return 'HI'\n");
  write(t.path / "python_modules/lib/new.py", "Y = 2\n");
  stats = m.rescan(t.path, 0);
  CHECK(stats.hashed == 2);
  CHECK(stats.reused == 1);
  CHECK(m.files.size() == 3);
  CHECK(m.files[0].sha256 == sha256_file(t.path / "app/app.py"));
  CHECK(m.digest != before);
  stdfs::remove(t.path / "python_modules/lib/new.py");
  stats = m.rescan(t.path, 0);
  CHECK(stats.hashed == 0);
  CHECK(m.files.size() == 2);

  stdfs::create_symlink("/etc/passwd", t.path / "app/link.py");
  CHECK_THROWS_AS(m.rescan(t.path, 0), Error);
}

TEST_CASE("verify finds missing, extra and changed files, and an edited list") {
  TempDir t;
  auto m = make_bundle(t.path);
  auto v = bundle::verify(t.path, m);
  CHECK(v.digest_ok);
  CHECK(v.problems.empty());
  CHECK(v.bytes == stdfs::file_size(t.path / "app/app.py") + 6);

  using Kind = bundle::Problem::Kind;
  write(t.path / "app/app.py", "def on_fetch(request):\n    return 'HI'\n");  // same size, other bytes
  stdfs::remove(t.path / "python_modules/lib/__init__.py");
  write(t.path / "python_modules/lib/evil.py", "import os\n");
  write(t.path / "notes.txt", "hello");
  write(t.path / "snapshot.bin.zst", "x");  // no snapshot in the manifest: not part of it
  v = bundle::verify(t.path, m);
  std::vector<std::pair<Kind, std::string>> got;
  for (const auto& p : v.problems) got.emplace_back(p.kind, p.path);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::pair<Kind, std::string>>{{Kind::not_bundle, "notes.txt"},
                                                         {Kind::not_bundle, "snapshot.bin.zst"},
                                                         {Kind::missing, "python_modules/lib/__init__.py"},
                                                         {Kind::changed, "app/app.py"},
                                                         {Kind::unlisted, "python_modules/lib/evil.py"}});
  m.snapshot = bundle::Snapshot{};
  v = bundle::verify(t.path, m);
  for (const auto& p : v.problems) CHECK(p.path != "snapshot.bin.zst");

  m.files.pop_back();
  CHECK_FALSE(bundle::verify(t.path, m).digest_ok);
}
