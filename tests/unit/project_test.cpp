// pyproject.toml as PEP 621, PEP 735, uv and pybundle read it.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "project/project.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using pb::project::parse;
using pb::project::parse_size;

namespace {

std::string error_of(std::string_view text) {
  try {
    parse(text, "pyproject.toml");
  } catch (const pb::Error& e) {
    CHECK(e.code() == pb::Exit::usage);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("PEP 621 [project]: name, version, requires-python, dependencies, extras") {
  auto p = parse(R"(
[project]
name = "My_App"
version = "1.2.3"
requires-python = ">=3.12"
dynamic = ["Readme"]
dependencies = ["fastapi>=0.100", "colorama; sys_platform == 'win32'"]
[project.optional-dependencies]
Fast_JSON = ["orjson"]
)",
                 "proj/pyproject.toml");
  CHECK(p.has_project_table);
  CHECK(p.name == "My_App");
  CHECK(p.version == "1.2.3");
  CHECK(p.requires_python == ">=3.12");
  CHECK(p.dynamic == std::vector<std::string>{"readme"});
  CHECK(p.dependencies.size() == 2);
  CHECK(p.optional_dependencies.at("fast-json") == std::vector<std::string>{"orjson"});
  CHECK(p.dir == "proj");
}

TEST_CASE("a virtual workspace root has no [project] table") {
  auto p = parse("[tool.uv.workspace]\nmembers = [\"packages/*\"]\nexclude = [\"packages/old\"]\n", "pyproject.toml");
  CHECK_FALSE(p.has_project_table);
  CHECK(p.workspace_members == std::vector<std::string>{"packages/*"});
  CHECK(p.workspace_exclude == std::vector<std::string>{"packages/old"});
}

TEST_CASE("PEP 735 groups: include-group expands, uv dev-dependencies join group dev") {
  auto p = parse(R"(
[project]
name = "app"
[dependency-groups]
Test = ["pytest"]
dev = [{include-group = "test"}, "ruff"]
[tool.uv]
dev-dependencies = ["mypy"]
default-groups = ["dev", "test"]
)",
                 "pyproject.toml");
  CHECK(p.dependency_groups.at("dev") == std::vector<std::string>{"include-group:test", "ruff", "mypy"});
  CHECK(p.group_requirements("dev") == std::vector<std::string>{"pytest", "ruff", "mypy"});
  REQUIRE(p.default_groups);
  CHECK(*p.default_groups == std::vector<std::string>{"dev", "test"});
  CHECK_FALSE(p.default_groups_all);
}

TEST_CASE("default-groups = \"all\"") {
  auto p = parse("[project]\nname = \"a\"\n[tool.uv]\ndefault-groups = \"all\"\n", "pyproject.toml");
  CHECK(p.default_groups_all);
  CHECK_FALSE(p.default_groups);
}

TEST_CASE("an include-group cycle or unknown group is an error naming the group") {
  CHECK(error_of("[dependency-groups]\na = [{include-group = \"b\"}]\nb = [{include-group = \"a\"}]\n")
            .find("includes itself") != std::string::npos);
  CHECK(error_of("[dependency-groups]\na = [{include-group = \"nope\"}]\n").find("'nope' is not defined") !=
        std::string::npos);
}

TEST_CASE("[tool.uv.sources]: workspace, path, git; a list takes its first entry") {
  auto p = parse(R"(
[project]
name = "a"
[tool.uv.sources]
lib = { workspace = true }
Sdk = { path = "../sdk", editable = true }
tool = { git = "https://example.invalid/tool.git" }
torch = [{ index = "cpu", marker = "sys_platform == 'linux'" }]
)",
                 "pyproject.toml");
  CHECK(p.sources.at("lib").kind == "workspace");
  CHECK(p.sources.at("sdk").kind == "path");
  CHECK(p.sources.at("sdk").value == "../sdk");
  CHECK(p.sources.at("sdk").editable);
  CHECK(p.sources.at("tool").kind == "git");
  CHECK(p.sources.at("torch").kind == "index");
  CHECK(p.sources.at("torch").value == "cpu");
}

TEST_CASE("[tool.pybundle]: every key") {
  auto p = parse(R"(
[project]
name = "a"
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[tool.pybundle]
target = "pyodide@0.29.3"
entry = "src/app.py"
preimport = ["jinja2.ext"]
exclude = ["**/tests/**"]
size-budget = "10MiB"
mirrors = { "https://a.invalid/" = "http://127.0.0.1:1/" }
pyodide-index = "http://127.0.0.1:2/full"
stdlib = ["SSL"]
vars = { GREETING = "hi", "API URL" = "http://127.0.0.1:3/" }
)",
                 "pyproject.toml");
  const auto& c = p.config;
  CHECK(c.vars == std::map<std::string, std::string>{{"API URL", "http://127.0.0.1:3/"}, {"GREETING", "hi"}});
  CHECK(c.target == "pyodide@0.29.3");
  CHECK(c.entry == "src/app.py");
  CHECK(c.preimport == std::vector<std::string>{"jinja2.ext"});
  CHECK(c.exclude == std::vector<std::string>{"**/tests/**"});
  CHECK(c.size_budget == 10u * 1024 * 1024);
  REQUIRE(c.mirrors.size() == 1);
  CHECK(c.mirrors[0].first == "https://a.invalid/");
  CHECK(c.mirrors[0].second == "http://127.0.0.1:1/");
  CHECK(c.pyodide_index == "http://127.0.0.1:2/full/");
  CHECK(c.stdlib == std::vector<std::string>{"ssl"});
  CHECK(p.build_backend == "hatchling.build");
  CHECK(p.build_requires == std::vector<std::string>{"hatchling"});
}

TEST_CASE("mirrors may also be an array of {from, to}; size-budget may be bytes") {
  auto p = parse(R"(
[tool.pybundle]
mirrors = [{ from = "https://a.invalid/", to = "file:///srv/" }]
size-budget = 4096
)",
                 "pyproject.toml");
  CHECK(p.config.mirrors.size() == 1);
  CHECK(p.config.size_budget == 4096u);
}

TEST_CASE("mirrors may be an array of \"FROM=TO\" strings, as --mirror takes them; include globs are kept") {
  auto p = parse(R"(
[tool.pybundle]
mirrors = ["https://a.invalid/=file:///srv/", { from = "https://b.invalid/", to = "http://127.0.0.1:1/" }]
include = ["templates/**", "config.yaml"]
)",
                 "pyproject.toml");
  REQUIRE(p.config.mirrors.size() == 2);
  CHECK(p.config.mirrors[0] == std::pair<std::string, std::string>{"https://a.invalid/", "file:///srv/"});
  CHECK(p.config.mirrors[1].first == "https://b.invalid/");
  REQUIRE(p.config.include);
  CHECK(*p.config.include == std::vector<std::string>{"templates/**", "config.yaml"});
  CHECK_FALSE(parse("[tool.pybundle]\n", "pyproject.toml").config.include);
  auto msg = error_of("[tool.pybundle]\nmirrors = [\"https://a.invalid/\"]\n");
  CHECK(msg.find("expected \"FROM=TO\"") != std::string::npos);
}

TEST_CASE("malformed TOML: the error names pyproject.toml and the line") {
  auto msg = error_of("[project]\nname = \"a\"\ndependencies = [\"x\",\n  = oops\n");
  CHECK(msg.rfind("pyproject.toml:4: ", 0) == 0);
}

TEST_CASE("schema errors name the line and are all reported together") {
  auto msg = error_of(R"([project]
name = "a"
dependencies = "fastapi"
[tool.pybundle]
entyr = "app.py"
size-budget = "ten megs"
vars = { N = 1 }
)");
  CHECK(msg.find("pyproject.toml:7: tool.pybundle.vars.N must be a string") != std::string::npos);
  CHECK(msg.find("pyproject.toml:3: project.dependencies must be an array") != std::string::npos);
  CHECK(msg.find("pyproject.toml:5: unknown key 'entyr' in [tool.pybundle]") != std::string::npos);
  CHECK(msg.find("pyproject.toml:6: tool.pybundle.size-budget") != std::string::npos);
}

TEST_CASE("an empty entry is an error naming its line, not a module named ''") {
  CHECK(error_of("[project]\nname = \"a\"\n[tool.pybundle]\nentry = \"\"\n") ==
        "pyproject.toml:4: tool.pybundle.entry is empty: name the entry module's file, e.g. \"src/app.py\"");
}

TEST_CASE("preimport entries must be module names") {
  CHECK(pb::project::is_module_name("jinja2.ext"));
  CHECK(pb::project::is_module_name("_private.caf\xc3\xa9"));
  for (const char* bad : {"", "../x", "a..b", ".a", "a.", "2fast", "a-b", "a b"})
    CHECK_FALSE(pb::project::is_module_name(bad));
  CHECK(error_of("[project]\nname = \"a\"\n[tool.pybundle]\npreimport = [\"jinja2.ext\", \"../x\"]\n") ==
        "pyproject.toml:4: tool.pybundle.preimport: '../x' is not a module name (such as \"jinja2.ext\")");
}

TEST_CASE("include and exclude globs that leave the bundle are errors naming their line") {
  for (const char* bad : {"../../etc/passwd", "/etc/hostname", "..", "a/../../b", "a/.."})
    CHECK(error_of(std::string("[project]\nname = \"a\"\n[tool.pybundle]\ninclude = [\"templates/**\", \"") + bad +
                   "\"]\n") == std::string("pyproject.toml:4: tool.pybundle.include: '") + bad +
                                   "' points outside the bundle, so it can never match: globs match paths inside it");
  CHECK(error_of("[project]\nname = \"a\"\n[tool.pybundle]\nexclude = [\"/abs/**\"]\n")
            .find("pyproject.toml:4: tool.pybundle.exclude: '/abs/**' points outside the bundle") == 0);
  // "..x" and "a..b" are names, not the parent directory.
  auto p = parse("[project]\nname = \"a\"\n[tool.pybundle]\ninclude = [\"..x/*\", \"a..b\"]\n", "pyproject.toml");
  CHECK(p.config.include->size() == 2);
}

TEST_CASE("[project] without a name is an error") {
  CHECK(error_of("[project]\nversion = \"1\"\n").find("no name") != std::string::npos);
}

TEST_CASE("a bad requirement string names its line") {
  CHECK(error_of("[project]\nname = \"a\"\ndependencies = [\n  \"ok\",\n  \"bad ==\",\n]\n")
            .rfind("pyproject.toml:5: ", 0) == 0);
}

TEST_CASE("parse_size: decimal and binary units, bytes, and nonsense") {
  CHECK(parse_size("1024") == 1024u);
  CHECK(parse_size("10MiB") == 10u * 1024 * 1024);
  CHECK(parse_size("3 MB") == 3000000u);
  CHECK(parse_size("1.5KiB") == 1536u);
  CHECK(parse_size("2gib") == 2ull * 1024 * 1024 * 1024);
  CHECK(parse_size("500 kB") == 500000u);
  CHECK_THROWS_AS(parse_size("ten"), pb::Error);
  CHECK_THROWS_AS(parse_size("10 parsecs"), pb::Error);
  CHECK_THROWS_AS(parse_size(""), pb::Error);
  CHECK_THROWS_AS(parse_size("1.2.3MB"), pb::Error);
}

TEST_CASE("load expands workspace member globs, skipping excluded and pyproject-less directories") {
  namespace fs = std::filesystem;
  auto root = pb::fs::make_temp_dir(fs::temp_directory_path() / "x", "pb-project-");
  pb::fs::write_file_atomic(root / "pyproject.toml",
                            "[project]\nname = \"root\"\n[tool.uv.workspace]\nmembers = [\"packages/*\"]\n"
                            "exclude = [\"packages/old\"]\n");
  for (const char* m : {"a", "b", "old", "empty"}) fs::create_directories(root / "packages" / m);
  pb::fs::write_file_atomic(root / "packages/a/pyproject.toml", "[project]\nname = \"pkg-a\"\n");
  pb::fs::write_file_atomic(root / "packages/b/pyproject.toml", "[project]\nname = \"pkg-b\"\n");
  pb::fs::write_file_atomic(root / "packages/old/pyproject.toml", "[project]\nname = \"old\"\n");
  auto p = pb::project::load(root);
  REQUIRE(p.members.size() == 2);
  CHECK(p.members[0].name == "pkg-a");
  CHECK(p.members[1].name == "pkg-b");
  fs::remove_all(root);
}

TEST_CASE("load on a directory without pyproject.toml says so") {
  try {
    pb::project::load(std::filesystem::temp_directory_path() / "pb-no-such-project");
    FAIL("expected an error");
  } catch (const pb::Error& e) {
    CHECK(std::string(e.what()).find("pyproject.toml: not found") != std::string::npos);
    CHECK(e.code() == pb::Exit::usage);
  }
}

TEST_CASE("every real pyproject.toml parses") {
  namespace fs = std::filesystem;
  fs::path real = fs::path(PYBUNDLE_SOURCE_ROOT).parent_path() / "shared" / "real-locks";
  if (!fs::exists(real)) return;
  int n = 0;
  for (const auto& dir : fs::directory_iterator(real)) {
    CAPTURE(dir.path());
    auto p = pb::project::load_file(dir.path() / "pyproject.toml");
    CHECK_FALSE(p.name.empty());
    ++n;
  }
  CHECK(n == 10);
}
