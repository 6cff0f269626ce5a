// What a Pyodide target needs from a lock, and which file of each package: the rules of
// `uv sync --frozen`, then lock wheel > Pyodide build > a clear problem.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "lock/lock.hpp"
#include "plan/plan.hpp"
#include "project/project.hpp"
#include "util/error.hpp"

using namespace pb;
using plan::Origin;
using plan::Selection;

namespace {

const char* kHash = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

target::PyodidePackage pyodide_pkg(const std::string& name, const std::string& version, const std::string& file,
                                   const std::string& type = "package", std::vector<std::string> depends = {}) {
  target::PyodidePackage p;
  p.name = name;
  p.version = version;
  p.file_name = file;
  p.sha256 = std::string(64, 'f');
  p.package_type = type;
  p.install_dir = type == "shared_library" ? "dynlib" : "site";
  p.depends = std::move(depends);
  return p;
}

// Pyodide 0.29.3: Python 3.13, ABI 2025_0.
target::Target pyodide_0_29() {
  target::Target t;
  t.pyodide_version = "0.29.3";
  t.python_version = "3.13.2";
  t.abi_version = "2025_0";
  t.platform = "emscripten_4_0_9";
  t.emscripten_version = "4.0.9";
  t.arch = "wasm32";
  t.index_url = "https://cdn.invalid/pyodide/v0.29.3/full/";
  t.packages["pydantic-core"] =
      pyodide_pkg("pydantic_core", "2.41.5", "pydantic_core-2.41.5-cp313-cp313-pyodide_2025_0_wasm32.whl");
  t.packages["numpy"] =
      pyodide_pkg("numpy", "2.2.5", "numpy-2.2.5-cp313-cp313-pyodide_2025_0_wasm32.whl", "package", {"libopenblas"});
  t.packages["libopenblas"] = pyodide_pkg("libopenblas", "0.3.26", "libopenblas-0.3.26.zip", "shared_library");
  t.packages["ssl"] =
      pyodide_pkg("ssl", "1.0.0", "ssl-1.0.0-cp313-cp313-pyodide_2025_0_wasm32.whl", "cpython_module", {"libopenssl"});
  t.packages["libopenssl"] = pyodide_pkg("libopenssl", "1.1.1w", "libopenssl-1.1.1w.zip", "shared_library");
  return t;
}

// Pyodide 0.27.7: Python 3.12, ABI 2024_0.
target::Target pyodide_0_27() {
  auto t = pyodide_0_29();
  t.pyodide_version = "0.27.7";
  t.python_version = "3.12.7";
  t.abi_version = "2024_0";
  t.platform = "emscripten_3_1_58";
  t.emscripten_version = "3.1.58";
  t.index_url = "https://cdn.invalid/pyodide/v0.27.7/full/";
  t.packages.erase("ssl");
  return t;
}

std::string whl(const std::string& file) {
  return "{ url = \"https://files.invalid/" + file + "\", hash = \"" + kHash + "\", size = 10 }";
}

// A uv.lock: header + the given packages.
lock::Lock uv_lock(const std::string& packages, const std::string& header = "") {
  return lock::parse_uv("version = 1\nrevision = 3\nrequires-python = \">=3.12\"\n" + header + "\n" + packages,
                        "/work/app/uv.lock");
}

project::Project app_project(const std::string& extra = "") {
  return project::parse("[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\n" + extra,
                        "/work/app/pyproject.toml");
}

const std::string kApp = R"(
[[package]]
name = "app"
version = "0.1.0"
source = { editable = "." }
)";

std::string registry(const std::string& name, const std::string& version, const std::string& body) {
  return "\n[[package]]\nname = \"" + name + "\"\nversion = \"" + version +
         "\"\nsource = { registry = \"https://index.invalid/simple\" }\n" + body + "\n";
}

std::string pure(const std::string& name, const std::string& version, const std::string& deps = "") {
  std::string file = name + "-" + version + "-py3-none-any.whl";
  std::replace(file.begin(), file.begin() + static_cast<long>(name.size()), '-', '_');
  return registry(name, version, deps + "wheels = [" + whl(file) + "]");
}

std::vector<std::string> names(const plan::Plan& p) {
  std::vector<std::string> out;
  for (const auto& i : p.items) out.push_back(i.name);
  return out;
}

std::string problems(const plan::Plan& p) {
  std::string out;
  for (const auto& pr : p.problems) out += pr.message + " | fix: " + pr.fix + "\n";
  return out;
}

std::string usage_error(const project::Project& proj, const lock::Lock& lock, const Selection& s) {
  try {
    plan::make_plan(proj, lock, pyodide_0_29(), s);
  } catch (const Error& e) {
    CHECK(e.code() == Exit::usage);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("the root project's dependencies are followed; host-only ones are dropped") {
  auto lock = uv_lock(kApp + R"(dependencies = [
    { name = "click" },
    { name = "colorama", marker = "sys_platform == 'win32'" },
]
)" + pure("click", "8.1.0", "dependencies = [{ name = \"colorama\", marker = \"platform_system == 'Windows'\" }]\n") +
                      pure("colorama", "0.4.6"));
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  CHECK(p.ok());
  CHECK(names(p) == std::vector<std::string>{"click"});  // the app itself is the bundle's app/, not a package
  CHECK(p.roots == std::vector<std::string>{"app"});
  const auto* click = p.find("click");
  REQUIRE(click);
  CHECK(click->origin == Origin::lock_wheel);
  CHECK(click->url == "https://files.invalid/click-8.1.0-py3-none-any.whl");
  CHECK(click->sha256 == std::string(64, '0'));
  CHECK(click->required_by == std::vector<std::string>{"app"});
  CHECK(p.dropped.size() == 2);  // app -> colorama and click -> colorama
}

TEST_CASE("the best wheel follows the target's tag order; a build tag breaks ties") {
  auto lock =
      uv_lock(kApp + "dependencies = [{ name = \"fast\" }, { name = \"tagged\" }]\n" +
              registry("fast", "1.0",
                       "wheels = [" + whl("fast-1.0-py3-none-any.whl") + ", " +
                           whl("fast-1.0-cp313-cp313-manylinux_2_17_x86_64.whl") + ", " +
                           whl("fast-1.0-cp313-cp313-pyemscripten_2025_0_wasm32.whl") + ", " +
                           whl("fast-1.0-cp312-cp312-pyemscripten_2024_0_wasm32.whl") + "]") +
              registry("tagged", "1.0",
                       "wheels = [" + whl("tagged-1.0-1-py3-none-any.whl") + ", " +
                           whl("tagged-1.0-7-py3-none-any.whl") + ", " + whl("tagged-1.0-py3-none-any.whl") + "]"));
  auto on_029 = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  CHECK(on_029.find("fast")->filename == "fast-1.0-cp313-cp313-pyemscripten_2025_0_wasm32.whl");
  CHECK(on_029.find("tagged")->filename == "tagged-1.0-7-py3-none-any.whl");
  auto on_027 = plan::make_plan(app_project(), lock, pyodide_0_27(), {});
  CHECK(on_027.find("fast")->filename == "fast-1.0-cp312-cp312-pyemscripten_2024_0_wasm32.whl");
}

TEST_CASE("no lock wheel, Pyodide ships the same version: its build is used") {
  auto lock = uv_lock(kApp + "dependencies = [{ name = \"pydantic-core\" }]\n" +
                      registry("pydantic-core", "2.41.5",
                               "sdist = { url = \"https://files.invalid/pydantic_core-2.41.5.tar.gz\", hash = \"" +
                                   std::string(kHash) + "\" }\nwheels = [" +
                                   whl("pydantic_core-2.41.5-cp313-cp313-manylinux_2_17_x86_64.whl") + "]"));
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  CHECK(p.ok());
  const auto* core = p.find("pydantic-core");
  REQUIRE(core);
  CHECK(core->origin == Origin::pyodide);
  CHECK(core->version == "2.41.5");
  CHECK(core->filename == "pydantic_core-2.41.5-cp313-cp313-pyodide_2025_0_wasm32.whl");
  CHECK(core->url ==
        "https://cdn.invalid/pyodide/v0.29.3/full/pydantic_core-2.41.5-cp313-cp313-pyodide_2025_0_wasm32.whl");
  CHECK(core->sha256 == std::string(64, 'f'));
}

TEST_CASE("Pyodide ships another version: both versions and the dependents' requirements are reported") {
  const std::string core =
      registry("pydantic-core", "2.41.1", "wheels = [" + whl("pydantic_core-2.41.1-cp313-cp313-win_amd64.whl") + "]");
  SUBCASE("a registry dependent whose METADATA is unknown: could not be checked") {
    auto lock = uv_lock(kApp + "dependencies = [{ name = \"pydantic\" }]\n" +
                        pure("pydantic", "2.12.0", "dependencies = [{ name = \"pydantic-core\" }]\n") + core);
    auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
    REQUIRE(p.problems.size() == 1);
    const auto& msg = p.problems[0].message;
    CHECK(p.problems[0].package == "pydantic-core");
    CHECK(msg.find("pydantic-core 2.41.1") != std::string::npos);
    CHECK(msg.find("ships pydantic-core 2.41.5") != std::string::npos);
    CHECK(msg.find("pydantic 2.12.0") != std::string::npos);
    CHECK(msg.find("could not be checked") != std::string::npos);
    CHECK(msg.find("Windows wheels") != std::string::npos);
    CHECK(p.problems[0].fix.starts_with("run `pybundle plan --fetch-metadata`"));
    // Asked of the index already (--fetch-metadata) and still unknown: not offered again.
    plan::Context fetching;
    fetching.requires_dist = [](const std::string&, const std::string&) { return std::nullopt; };
    fetching.fetches_metadata = true;
    p = plan::make_plan(app_project(), lock, pyodide_0_29(), {}, fetching);
    REQUIRE(p.problems.size() == 1);
    CHECK(p.problems[0].fix.find("--fetch-metadata") == std::string::npos);
    CHECK(
        p.problems[0].fix.starts_with("the index did not give the METADATA either (see the warning above): pin "
                                      "pydantic-core==2.41.5"));
  }
  SUBCASE("the dependent's METADATA pins the locked version: cannot substitute") {
    auto lock = uv_lock(kApp + "dependencies = [{ name = \"pydantic\" }]\n" +
                        pure("pydantic", "2.12.0", "dependencies = [{ name = \"pydantic-core\" }]\n") + core);
    plan::Context ctx;
    ctx.requires_dist = [](const std::string& name,
                           const std::string& version) -> std::optional<std::vector<std::string>> {
      if (name == "pydantic" && version == "2.12.0")
        return std::vector<std::string>{"annotated-types>=0.6.0", "pydantic-core==2.41.1",
                                        "email-validator>=2.0.0; extra == 'email'"};
      return std::nullopt;
    };
    auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {}, ctx);
    REQUIRE(p.problems.size() == 1);
    CHECK(p.problems[0].message.find("but pydantic 2.12.0 requires pydantic-core==2.41.1") != std::string::npos);
    CHECK(p.problems[0].fix.find("Pyodide release that ships pydantic-core 2.41.1") != std::string::npos);
  }
  SUBCASE("the root's requires-dist accepts it: Pyodide's build is used, with a warning") {
    auto lock = uv_lock(kApp +
                        "dependencies = [{ name = \"pydantic-core\" }]\n[package.metadata]\n"
                        "requires-dist = [{ name = \"pydantic-core\", specifier = \">=2.40\" }]\n" +
                        core);
    auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
    CHECK(p.ok());
    CHECK(p.find("pydantic-core")->origin == Origin::pyodide);
    CHECK(p.find("pydantic-core")->version == "2.41.5");
    CHECK(p.find("pydantic-core")->note.find("lock has 2.41.1") != std::string::npos);
    REQUIRE(p.warnings.size() == 1);
  }
  SUBCASE("the root's requires-dist rejects it") {
    auto lock = uv_lock(kApp +
                        "dependencies = [{ name = \"pydantic-core\" }]\n[package.metadata]\n"
                        "requires-dist = [{ name = \"pydantic-core\", specifier = \"<2.41.2\" }]\n" +
                        core);
    auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
    REQUIRE(p.problems.size() == 1);
    CHECK(p.problems[0].message.find("app 0.1.0 requires pydantic-core<2.41.2") != std::string::npos);
  }
}

TEST_CASE("manylinux-only, sdist-only, git and url sources: problems that say why and what to do") {
  auto lock = uv_lock(
      kApp + R"(dependencies = [{ name = "native" }, { name = "sdonly" }, { name = "fromgit" }, { name = "fromurl" }]
)" +
      registry("native", "1.0",
               "wheels = [" + whl("native-1.0-cp313-cp313-manylinux_2_17_x86_64.whl") + ", " +
                   whl("native-1.0-cp313-cp313-macosx_11_0_arm64.whl") + "]") +
      registry("sdonly", "1.0",
               "sdist = { url = \"https://files.invalid/sdonly-1.0.tar.gz\", hash = \"" + std::string(kHash) + "\" }") +
      R"(
[[package]]
name = "fromgit"
version = "0.1"
source = { git = "https://git.invalid/fromgit?rev=main#0123456789abcdef0123456789abcdef01234567" }

[[package]]
name = "fromurl"
version = "0.2"
source = { url = "https://files.invalid/fromurl-0.2.tar.gz" }
sdist = { hash = "sha256:1111111111111111111111111111111111111111111111111111111111111111" }
)");
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  CHECK(p.items.empty());
  REQUIRE(p.problems.size() == 4);  // every problem at once
  auto find = [&](const std::string& name) {
    for (const auto& pr : p.problems)
      if (pr.package == name) return pr;
    FAIL("no problem for " << name);
    return plan::Problem{};
  };
  auto native = find("native");
  CHECK(native.message.find("only Linux and macOS wheels") != std::string::npos);
  CHECK(native.message.find("Pyodide 0.29.3") != std::string::npos);
  CHECK(native.fix.find("pyodide build") != std::string::npos);
  CHECK(native.fix.find("sys_platform == 'emscripten'") != std::string::npos);
  CHECK(find("sdonly").message.find("a source distribution") != std::string::npos);
  CHECK(find("fromgit").message.find("comes from git") != std::string::npos);
  CHECK(find("fromgit").message.find("only wheels run on Pyodide") != std::string::npos);
  CHECK(find("fromurl").message.find("source archive") != std::string::npos);
}

TEST_CASE("a Pyodide wheel for another ABI is named as such") {
  auto lock = uv_lock(
      kApp + "dependencies = [{ name = \"onnx\" }]\n" +
      registry("onnx", "1.22.0", "wheels = [" + whl("onnx-1.22.0-cp312-abi3-pyemscripten_2025_0_wasm32.whl") + "]"));
  CHECK(plan::make_plan(app_project(), lock, pyodide_0_29(), {}).ok());
  auto p = plan::make_plan(app_project(), lock, pyodide_0_27(), {});
  REQUIRE(p.problems.size() == 1);
  CHECK(p.problems[0].message.find(
            "Pyodide wheels for another Python or ABI (cp312-abi3-pyemscripten_2025_0_wasm32)") != std::string::npos);
}

TEST_CASE("workspace members and local directories are vendored from source, unless they need a native build") {
  auto lock = uv_lock(kApp + "dependencies = [{ name = \"lib\" }, { name = \"rusty\" }, { name = \"gone\" }]\n" + R"(
[[package]]
name = "lib"
version = "0.1.0"
source = { editable = "packages/lib" }

[[package]]
name = "rusty"
version = "0.1.0"
source = { directory = "packages/rusty" }

[[package]]
name = "gone"
version = "0.1.0"
source = { editable = "../gone" }
)",
                      "[manifest]\nmembers = [\"app\", \"lib\", \"rusty\"]\n");
  plan::Context ctx;
  ctx.local_project = [](const std::filesystem::path& dir) {
    plan::LocalProject l;
    l.exists = dir.filename() != "gone";
    if (dir.filename() == "rusty") l.build_backend = "maturin";
    return l;
  };
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {}, ctx);
  const auto* lib = p.find("lib");
  REQUIRE(lib);
  CHECK(lib->origin == Origin::source);
  CHECK(lib->path == "/work/app/packages/lib");
  REQUIRE(p.problems.size() == 2);
  CHECK(problems(p).find("built with maturin (native code)") != std::string::npos);
  CHECK(problems(p).find("/work/gone, which does not exist") != std::string::npos);
}

TEST_CASE("extras: --extra follows optional dependencies; unknown extras are usage errors") {
  auto lock = uv_lock(kApp + R"(
[package.optional-dependencies]
fast = [{ name = "orjson" }]
cli = [{ name = "click" }]

[package.metadata]
requires-dist = [{ name = "orjson", marker = "extra == 'fast'" }, { name = "click", marker = "extra == 'cli'" }]
provides-extras = ["fast", "cli"]
)" + pure("orjson", "3.0") +
                      pure("click", "8.1.0"));
  auto proj = app_project();
  CHECK(plan::make_plan(proj, lock, pyodide_0_29(), {}).items.empty());
  Selection fast;
  fast.extras = {"Fast"};
  CHECK(names(plan::make_plan(proj, lock, pyodide_0_29(), fast)) == std::vector<std::string>{"orjson"});
  auto fp = plan::make_plan(proj, lock, pyodide_0_29(), fast);
  CHECK(fp.edges[0].via == "extra fast");
  Selection all;
  all.all_extras = true;
  CHECK(names(plan::make_plan(proj, lock, pyodide_0_29(), all)) == std::vector<std::string>{"click", "orjson"});
  Selection bad;
  bad.extras = {"turbo"};
  CHECK(usage_error(proj, lock, bad).find("extra 'turbo' is not defined by app (extras: cli, fast)") !=
        std::string::npos);
}

TEST_CASE("groups: dev by default, --no-dev, --only-group, --all-groups, --no-default-groups, default-groups") {
  auto lock = uv_lock(kApp + R"(dependencies = [{ name = "click" }]

[package.dev-dependencies]
dev = [{ name = "pytest" }]
docs = [{ name = "mkdocs" }]
)" + pure("click", "8.1.0") +
                      pure("pytest", "8.0.0") + pure("mkdocs", "1.6.0"));
  auto proj = app_project("[dependency-groups]\ndev = [\"pytest\"]\ndocs = [\"mkdocs\"]\n");
  auto run = [&](const Selection& s, const project::Project& p) {
    return names(plan::make_plan(p, lock, pyodide_0_29(), s));
  };
  CHECK(run({}, proj) == std::vector<std::string>{"click", "pytest"});
  Selection no_dev;
  no_dev.no_dev = true;
  CHECK(run(no_dev, proj) == std::vector<std::string>{"click"});
  Selection only_docs;
  only_docs.only_groups = {"docs"};
  CHECK(run(only_docs, proj) == std::vector<std::string>{"mkdocs"});
  Selection all;
  all.all_groups = true;
  CHECK(run(all, proj) == std::vector<std::string>{"click", "mkdocs", "pytest"});
  Selection all_no_dev = all;
  all_no_dev.no_dev = true;
  CHECK(run(all_no_dev, proj) == std::vector<std::string>{"click", "mkdocs"});
  Selection no_defaults;
  no_defaults.no_default_groups = true;
  CHECK(run(no_defaults, proj) == std::vector<std::string>{"click"});
  Selection docs;
  docs.groups = {"docs"};
  CHECK(run(docs, proj) == std::vector<std::string>{"click", "mkdocs", "pytest"});
  auto docs_default = app_project(
      "[dependency-groups]\ndev = [\"pytest\"]\ndocs = [\"mkdocs\"]\n[tool.uv]\ndefault-groups = [\"docs\"]\n");
  CHECK(run({}, docs_default) == std::vector<std::string>{"click", "mkdocs"});
  Selection bad;
  bad.groups = {"lint"};
  CHECK(usage_error(proj, lock, bad).find("group 'lint' is not defined") != std::string::npos);
}

TEST_CASE("uv conflict markers pick the variant of the chosen extra; conflicting choices are errors") {
  // Two torch builds, forked on the app's conflicting extras (uv encodes them as extra-3-app-…).
  auto lock =
      uv_lock(kApp + R"(
[package.optional-dependencies]
cpu = [{ name = "torch", version = "2.5.0", source = { registry = "https://index.invalid/simple" }, marker = "extra == 'extra-3-app-cpu'" }]
gpu = [{ name = "torch", version = "2.5.0+cu121", source = { registry = "https://index.invalid/simple" }, marker = "extra == 'extra-3-app-gpu'" }]

[package.dev-dependencies]
dev = [{ name = "helper", marker = "extra != 'extra-3-app-gpu'" }]
)" + pure("torch", "2.5.0") +
                  registry("torch", "2.5.0+cu121",
                           "wheels = [" + whl("torch-2.5.0+cu121-cp313-cp313-manylinux_2_28_x86_64.whl") + "]") +
                  pure("helper", "1.0"),
              "conflicts = [[{ package = \"app\", extra = \"cpu\" }, { package = \"app\", extra = \"gpu\" }]]\n");
  auto proj = app_project();
  Selection cpu;
  cpu.extras = {"cpu"};
  auto p = plan::make_plan(proj, lock, pyodide_0_29(), cpu);
  CHECK(p.ok());
  CHECK(p.find("torch")->version == "2.5.0");
  CHECK(p.find("helper"));
  Selection gpu;
  gpu.extras = {"gpu"};
  auto g = plan::make_plan(proj, lock, pyodide_0_29(), gpu);
  CHECK(g.find("torch") == nullptr);   // the gpu build has no wheel for Pyodide: a problem, not an item
  CHECK(g.find("helper") == nullptr);  // the group's marker excludes it when gpu is active
  CHECK(problems(g).find("torch 2.5.0+cu121") != std::string::npos);
  Selection both;
  both.extras = {"cpu", "gpu"};
  CHECK(usage_error(proj, lock, both).find("extra 'cpu' of app and extra 'gpu' of app are declared as conflicting") !=
        std::string::npos);
}

TEST_CASE("a group conflicting with an extra: the error says the group is on by default") {
  auto lock =
      uv_lock(kApp + R"(
[package.optional-dependencies]
tasks = [{ name = "helper" }]

[package.dev-dependencies]
dev = [{ name = "helper" }]
)" + pure("helper", "1.0"),
              "conflicts = [[{ package = \"app\", extra = \"tasks\" }, { package = \"app\", group = \"dev\" }]]\n");
  Selection tasks;
  tasks.extras = {"tasks"};
  auto msg = usage_error(app_project(), lock, tasks);
  CHECK(msg.find("group 'dev' is on by default: use --no-default-groups or --no-dev") != std::string::npos);
  tasks.no_dev = true;
  CHECK(plan::make_plan(app_project(), lock, pyodide_0_29(), tasks).ok());
}

TEST_CASE("extras activated deep in the graph count for conflict markers (uv's first traversal)") {
  // lib[fast] is reached through a dependency; an edge elsewhere is gated on lib's extra.
  auto lock = uv_lock(
      kApp + "dependencies = [{ name = \"mid\" }, { name = \"other\" }]\n" +
          pure("mid", "1.0", "dependencies = [{ name = \"lib\", extra = [\"fast\"] }]\n") +
          pure("other", "1.0", "dependencies = [{ name = \"gated\", marker = \"extra == 'extra-3-lib-fast'\" }]\n") +
          registry("lib", "1.0",
                   "wheels = [" + whl("lib-1.0-py3-none-any.whl") +
                       "]\n[package.optional-dependencies]\nfast = [{ name = \"speedup\" }]") +
          pure("speedup", "1.0") + pure("gated", "1.0"),
      "conflicts = [[{ package = \"lib\", extra = \"fast\" }, { package = \"lib\", extra = \"slow\" }]]\n");
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  CHECK(p.ok());
  CHECK(names(p) == std::vector<std::string>{"gated", "lib", "mid", "other", "speedup"});
}

TEST_CASE("a name locked twice for two Python forks: the target's fork wins") {
  auto lock = uv_lock(kApp + R"(dependencies = [
    { name = "numpy", version = "2.1.0", source = { registry = "https://index.invalid/simple" }, marker = "python_full_version >= '3.13'" },
    { name = "numpy", version = "1.26.4", source = { registry = "https://index.invalid/simple" }, marker = "python_full_version < '3.13'" },
]
)" +
                      registry("numpy", "2.1.0",
                               "resolution-markers = [\"python_full_version >= '3.13'\"]\nwheels = [" +
                                   whl("numpy-2.1.0-cp313-cp313-pyodide_2025_0_wasm32.whl") + "]") +
                      registry("numpy", "1.26.4",
                               "resolution-markers = [\"python_full_version < '3.13'\"]\nwheels = [" +
                                   whl("numpy-1.26.4-cp312-cp312-pyodide_2024_0_wasm32.whl") + "]"));
  auto p29 = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  CHECK(p29.find("numpy")->version == "2.1.0");
  auto p27 = plan::make_plan(app_project(), lock, pyodide_0_27(), {});
  CHECK(p27.find("numpy")->version == "1.26.4");
  CHECK(p27.find("libopenblas") == nullptr);  // a lock wheel brings no Pyodide dependencies
}

TEST_CASE("a Pyodide build brings its Pyodide dependencies (shared libraries)") {
  auto lock = uv_lock(kApp + "dependencies = [{ name = \"numpy\" }]\n" +
                      registry("numpy", "2.2.5",
                               "sdist = { url = \"https://files.invalid/numpy-2.2.5.tar.gz\", hash = \"" +
                                   std::string(kHash) + "\" }"));
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  CHECK(p.ok());
  CHECK(names(p) == std::vector<std::string>{"libopenblas", "numpy"});
  CHECK(p.find("libopenblas")->required_by == std::vector<std::string>{"numpy"});
}

TEST_CASE("unvendored stdlib modules resolve by name") {
  auto lock = uv_lock(kApp);
  Selection s;
  s.stdlib = {"ssl"};
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), s);
  CHECK(p.ok());
  CHECK(names(p) == std::vector<std::string>{"libopenssl", "ssl"});
  CHECK(p.find("ssl")->origin == Origin::pyodide);
  s.stdlib = {"tkinter", "numpy"};
  auto bad = plan::make_plan(app_project(), lock, pyodide_0_29(), s);
  REQUIRE(bad.problems.size() == 2);
  CHECK(bad.problems[0].message.find("ships no separate stdlib module 'tkinter' (it has ssl)") != std::string::npos);
  CHECK(bad.problems[1].message.find("'numpy' is not an unvendored stdlib module") != std::string::npos);
}

TEST_CASE("the lock's requires-python and supported environments must admit the target") {
  auto lock = lock::parse_uv(
      "version = 1\nrequires-python = \">=3.13\"\nsupported-markers = [\"sys_platform == 'linux'\"]\n" + kApp,
      "/work/app/uv.lock");
  auto p = plan::make_plan(app_project(), lock, pyodide_0_27(), {});
  REQUIRE(p.problems.size() == 2);
  CHECK(p.problems[0].message.find("requires-python >=3.13 excludes Python 3.12.7 of Pyodide 0.27.7") !=
        std::string::npos);
  CHECK(p.problems[1].message.find("supports only sys_platform == 'linux'") != std::string::npos);
}

TEST_CASE("--package and --all-packages choose workspace members as roots") {
  auto lock = uv_lock(kApp + "dependencies = [{ name = \"click\" }]\n" + R"(
[[package]]
name = "worker"
version = "0.1.0"
source = { editable = "workers/worker" }
dependencies = [{ name = "jinja2" }]
)" + pure("click", "8.1.0") +
                          pure("jinja2", "3.1.6"),
                      "[manifest]\nmembers = [\"app\", \"worker\"]\n");
  Selection one;
  one.packages = {"worker"};
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), one);
  CHECK(names(p) == std::vector<std::string>{"jinja2", "worker"});
  CHECK(p.find("worker")->required_by == std::vector<std::string>{"<root>"});
  Selection all;
  all.all_packages = true;
  CHECK(names(plan::make_plan(app_project(), lock, pyodide_0_29(), all)) ==
        std::vector<std::string>{"click", "jinja2", "worker"});
  Selection bad;
  bad.packages = {"nope"};
  CHECK(usage_error(app_project(), lock, bad).find("--package nope: not a workspace member (members: app, worker)") !=
        std::string::npos);
}

TEST_CASE("a virtual workspace root installs every member and the root's own groups") {
  auto proj = project::parse("[tool.uv.workspace]\nmembers = [\"a\"]\n[dependency-groups]\nlint = [\"ruff\"]\n",
                             "/work/app/pyproject.toml");
  auto lock = uv_lock(R"(
[[package]]
name = "a"
version = "1.0"
source = { editable = "a" }
dependencies = [{ name = "click" }]
)" + pure("click", "8.1.0") +
                          pure("ruff", "0.5.0"),
                      "[manifest]\nmembers = [\"a\"]\n\n[manifest.dependency-groups]\nlint = [{ name = \"ruff\" }]\n");
  Selection lint;
  lint.groups = {"lint"};
  auto p = plan::make_plan(proj, lock, pyodide_0_29(), lint);
  CHECK(names(p) == std::vector<std::string>{"a", "click", "ruff"});
  CHECK(p.find("ruff")->required_by == std::vector<std::string>{"<root>"});
}

TEST_CASE("pylock.toml: packages are selected by their markers, extras and groups") {
  auto lock = lock::parse_pylock(R"(lock-version = "1.0"
requires-python = ">=3.12"
extras = ["fast"]
dependency-groups = ["dev"]
default-groups = ["dev"]

[[packages]]
name = "click"
version = "8.1.0"
wheels = [{ url = "https://files.invalid/click-8.1.0-py3-none-any.whl", hashes = { sha256 = "1111111111111111111111111111111111111111111111111111111111111111" } }]

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"
wheels = [{ url = "https://files.invalid/colorama-0.4.6-py3-none-any.whl", hashes = { sha256 = "2222222222222222222222222222222222222222222222222222222222222222" } }]

[[packages]]
name = "orjson"
version = "3.0"
marker = "'fast' in extras"
wheels = [{ url = "https://files.invalid/orjson-3.0-py3-none-any.whl", hashes = { sha256 = "3333333333333333333333333333333333333333333333333333333333333333" } }]

[[packages]]
name = "pytest"
version = "8.0.0"
marker = "'dev' in dependency_groups"
wheels = [{ url = "https://files.invalid/pytest-8.0.0-py3-none-any.whl", hashes = { sha256 = "4444444444444444444444444444444444444444444444444444444444444444" } }]
)",
                                 "/work/app/pylock.toml");
  auto proj = app_project();
  CHECK(names(plan::make_plan(proj, lock, pyodide_0_29(), {})) == std::vector<std::string>{"click", "pytest"});
  Selection fast;
  fast.extras = {"fast"};
  fast.no_dev = true;
  CHECK(names(plan::make_plan(proj, lock, pyodide_0_29(), fast)) == std::vector<std::string>{"click", "orjson"});
}

TEST_CASE("pylock.toml: two entries of one name that both apply name their lines and how to write the lock again") {
  auto lock = lock::parse_pylock(R"(lock-version = "1.0"

[[packages]]
name = "click"
version = "8.1.0"
wheels = [{ url = "https://files.invalid/click-8.1.0-py3-none-any.whl", hashes = { sha256 = "1111111111111111111111111111111111111111111111111111111111111111" } }]

[[packages]]
name = "click"
version = "8.1.7"
marker = "python_version >= '3.8'"
wheels = [{ url = "https://files.invalid/click-8.1.7-py3-none-any.whl", hashes = { sha256 = "2222222222222222222222222222222222222222222222222222222222222222" } }]
)",
                                 "/work/app/pylock.toml");
  auto plan = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  REQUIRE(plan.problems.size() == 1);
  CHECK(plan.problems[0].message ==
        "the lock selects click at 8.1.0 and 8.1.7 (/work/app/pylock.toml:3, /work/app/pylock.toml:8) for this target; "
        "only one can be installed");
  CHECK(plan.problems[0].fix.starts_with("write pylock.toml again (`uv export --format pylock.toml`"));
  Selection unknown;
  unknown.extras = {"nope"};
  CHECK_THROWS_WITH_AS(plan::make_plan(app_project(), lock, pyodide_0_29(), unknown),
                       doctest::Contains("extra 'nope' is not in the lock's extras (it has none)"), Error);
}

TEST_CASE("pylock.toml: --only-group leaves out the project's unmarked packages; what the group reaches stays") {
  auto lock = lock::parse_pylock(R"(lock-version = "1.0"
requires-python = ">=3.12"
dependency-groups = ["dev"]

[[packages]]
name = "click"
version = "8.1.0"
wheels = [{ url = "https://files.invalid/click-8.1.0-py3-none-any.whl", hashes = { sha256 = "1111111111111111111111111111111111111111111111111111111111111111" } }]

[[packages]]
name = "pluggy"
version = "1.5.0"
wheels = [{ url = "https://files.invalid/pluggy-1.5.0-py3-none-any.whl", hashes = { sha256 = "2222222222222222222222222222222222222222222222222222222222222222" } }]

[[packages]]
name = "pytest"
version = "8.0.0"
marker = "'dev' in dependency_groups"
dependencies = [{ name = "pluggy" }]
wheels = [{ url = "https://files.invalid/pytest-8.0.0-py3-none-any.whl", hashes = { sha256 = "4444444444444444444444444444444444444444444444444444444444444444" } }]
)",
                                 "/work/app/pylock.toml");
  auto proj = app_project("dependencies = [\"click\", \"pluggy\"]\n[dependency-groups]\ndev = [\"pytest\"]\n");
  Selection only;
  only.only_groups = {"dev"};
  CHECK(names(plan::make_plan(proj, lock, pyodide_0_29(), only)) == std::vector<std::string>{"pluggy", "pytest"});
}

TEST_CASE("freshness of a pylock.toml (PEP 751): requires-python, extras, groups and every requirement met") {
  const std::string text = R"(lock-version = "1.0"
requires-python = ">=3.12"
extras = ["fast"]
dependency-groups = ["dev"]
default-groups = ["dev"]

[[packages]]
name = "app"
directory = { path = "." }

[[packages]]
name = "click"
version = "8.1.0"
wheels = [{ url = "https://files.invalid/click-8.1.0-py3-none-any.whl", hashes = { sha256 = "1111111111111111111111111111111111111111111111111111111111111111" } }]

[[packages]]
name = "orjson"
version = "3.0"
marker = "'fast' in extras"
wheels = [{ url = "https://files.invalid/orjson-3.0-py3-none-any.whl", hashes = { sha256 = "3333333333333333333333333333333333333333333333333333333333333333" } }]

[[packages]]
name = "pytest"
version = "8.0.0"
marker = "'dev' in dependency_groups"
wheels = [{ url = "https://files.invalid/pytest-8.0.0-py3-none-any.whl", hashes = { sha256 = "4444444444444444444444444444444444444444444444444444444444444444" } }]
)";
  auto lock = lock::parse_pylock(text, "/work/app/pylock.toml");
  auto fresh = app_project(
      "dependencies = [\"click>=8\", \"tomli; python_version < '3.11'\"]\n"
      "[project.optional-dependencies]\nfast = [\"orjson\"]\n[dependency-groups]\ndev = [\"pytest>=8\"]\n");
  CHECK(plan::check_freshness(fresh, lock).empty());

  auto changed = app_project(
      "dependencies = [\"click>=8.2\", \"rich\"]\n"
      "[project.optional-dependencies]\nfast = [\"orjson\", \"ujson\"]\n"
      "[dependency-groups]\ndev = [\"pytest>=8\", \"click\"]\n");
  changed.requires_python = ">=3.10";
  auto diffs = plan::check_freshness(changed, lock);
  std::string all;
  for (const auto& d : diffs) all += d + "\n";
  CAPTURE(all);
  CHECK(diffs.size() == 4);
  CHECK(all.find("requires-python: pyproject.toml has >=3.10, pylock.toml has >=3.12") != std::string::npos);
  CHECK(all.find("app dependencies: pyproject.toml has click>=8.2, pylock.toml has click 8.1.0") != std::string::npos);
  CHECK(all.find("app dependencies: pyproject.toml has rich, pylock.toml has nothing for 'rich'") != std::string::npos);
  CHECK(all.find("app extra 'fast': pyproject.toml has ujson, pylock.toml has nothing for 'ujson'") !=
        std::string::npos);

  // A group the lock lists that pyproject.toml no longer defines; an orjson only the extra installs
  // does not meet a plain dependency.
  auto moved = app_project("dependencies = [\"click\", \"orjson\"]\n[project.optional-dependencies]\nfast = []\n");
  diffs = plan::check_freshness(moved, lock);
  all.clear();
  for (const auto& d : diffs) all += d + "\n";
  CAPTURE(all);
  CHECK(diffs.size() == 2);
  CHECK(all.find("group 'dev': pylock.toml has it, pyproject.toml does not define it") != std::string::npos);
  CHECK(all.find("app dependencies: pyproject.toml has orjson, pylock.toml has nothing for 'orjson'") !=
        std::string::npos);
}

TEST_CASE("--allow-substitutes: Pyodide's build of another version even when a dependent rejects it") {
  auto lock = uv_lock(
      kApp +
      "dependencies = [{ name = \"pydantic-core\" }]\n[package.metadata]\n"
      "requires-dist = [{ name = \"pydantic-core\", specifier = \"<2.41.2\" }]\n" +
      registry("pydantic-core", "2.41.1", "wheels = [" + whl("pydantic_core-2.41.1-cp313-cp313-win_amd64.whl") + "]"));
  auto refused = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  REQUIRE(refused.problems.size() == 1);
  CHECK(refused.problems[0].fix.find("--allow-substitutes") != std::string::npos);
  Selection allow;
  allow.allow_substitutes = true;
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), allow);
  CHECK(p.ok());
  CHECK(p.find("pydantic-core")->origin == Origin::pyodide);
  CHECK(p.find("pydantic-core")->version == "2.41.5");
  REQUIRE(p.warnings.size() == 1);
  CHECK(p.warnings[0].find("--allow-substitutes; although app 0.1.0 requires pydantic-core<2.41.2") !=
        std::string::npos);
}

TEST_CASE("a wheel without a sha256 cannot be verified") {
  auto lock =
      uv_lock(kApp + "dependencies = [{ name = \"weak\" }]\n" +
              registry("weak", "1.0",
                       "wheels = [{ url = \"https://files.invalid/weak-1.0-py3-none-any.whl\", hash = \"md5:00\" }]"));
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  REQUIRE(p.problems.size() == 1);
  CHECK(p.problems[0].message.find("/work/app/uv.lock:") == 0);
  CHECK(p.problems[0].message.find("package 'weak': wheel weak-1.0-py3-none-any.whl hash is not sha256 (md5)") !=
        std::string::npos);
  // A sha256 that is not 64 hex digits is named as such, not as "not sha256 (sha256)".
  auto cut = uv_lock(kApp + "dependencies = [{ name = \"weak\" }]\n" +
                     registry("weak", "1.0",
                              "wheels = [{ url = \"https://files.invalid/weak-1.0-py3-none-any.whl\", hash = "
                              "\"sha256:abc\" }]"));
  p = plan::make_plan(app_project(), cut, pyodide_0_29(), {});
  REQUIRE(p.problems.size() == 1);
  CHECK(p.problems[0].message.ends_with(
      "package 'weak': wheel weak-1.0-py3-none-any.whl hash 'sha256:abc' is not 64 hexadecimal digits, so its "
      "download cannot be verified"));
  CHECK(p.problems[0].fix.starts_with("re-lock (`uv lock`)"));
}

TEST_CASE("paths_to: every way from a root to a package") {
  auto lock = uv_lock(kApp + "dependencies = [{ name = \"fastapi\" }, { name = \"pydantic\" }]\n" +
                      pure("fastapi", "0.115.0", "dependencies = [{ name = \"pydantic\" }]\n") +
                      pure("pydantic", "2.12.0", "dependencies = [{ name = \"typing-extensions\" }]\n") +
                      pure("typing-extensions", "4.12.0"));
  auto p = plan::make_plan(app_project(), lock, pyodide_0_29(), {});
  auto paths = plan::paths_to(p, "typing-extensions");
  REQUIRE(paths.size() == 2);
  CHECK(paths[0] == std::vector<std::string>{"app", "pydantic", "typing-extensions"});
  CHECK(paths[1] == std::vector<std::string>{"app", "fastapi", "pydantic", "typing-extensions"});
}

TEST_CASE("paths_to: the shortest paths through a deep diamond, without enumerating them all") {
  // 30 levels of two packages each depending on both of the next level: 2^30 paths to "leaf".
  const int levels = 30;
  auto deps = [](int level) {
    return "dependencies = [{ name = \"a" + std::to_string(level) + "\" }, { name = \"b" + std::to_string(level) +
           "\" }]\n";
  };
  std::string text = kApp + deps(0);
  for (int i = 0; i < levels; ++i)
    for (const char* side : {"a", "b"})
      text += pure(side + std::to_string(i), "1.0",
                   i + 1 < levels ? deps(i + 1) : std::string("dependencies = [{ name = \"leaf\" }]\n"));
  text += pure("leaf", "1.0");
  auto p = plan::make_plan(app_project(), uv_lock(text), pyodide_0_29(), {});
  auto paths = plan::paths_to(p, "leaf", 3);
  INFO("edges " << p.edges.size() << ", items " << p.items.size() << ", problems " << p.problems.size()
                << (p.problems.empty() ? "" : ": " + p.problems[0].message));
  REQUIRE(paths.size() == 3);
  for (const auto& path : paths) {
    CHECK(path.size() == levels + 2);
    CHECK(path.front() == "app");
    CHECK(path.back() == "leaf");
  }
  CHECK(paths[0] != paths[1]);
}

TEST_CASE("freshness: the lock's metadata against pyproject.toml, as `uv lock --check` compares them") {
  auto lock = uv_lock(kApp + R"(dependencies = [{ name = "click" }]

[package.metadata]
requires-dist = [
    { name = "click", specifier = ">=8" },
    { name = "tomli", marker = "python_full_version < '3.11'" },
    { name = "orjson", marker = "extra == 'fast'" },
]
provides-extras = ["fast"]

[package.metadata.requires-dev]
dev = [{ name = "pytest", specifier = ">=8" }]
)");
  auto fresh = app_project(
      "dependencies = [\"click>=8\", \"tomli; python_version < '3.11'\"]\n"
      "[project.optional-dependencies]\nfast = [\"orjson\"]\n[dependency-groups]\ndev = [\"pytest>=8\"]\n");
  CHECK(plan::check_freshness(fresh, lock).empty());

  auto changed = app_project(
      "dependencies = [\"click>=8.1\", \"tomli; python_version < '3.11'\", \"rich\"]\n"
      "[project.optional-dependencies]\nfast = [\"orjson\"]\n[dependency-groups]\ndev = [\"pytest>=8\", \"ruff\"]\n");
  changed.requires_python = ">=3.10";
  auto diffs = plan::check_freshness(changed, lock);
  std::string all;
  for (const auto& d : diffs) all += d + "\n";
  CAPTURE(all);
  CHECK(diffs.size() == 4);
  CHECK(all.find("requires-python: pyproject.toml has >=3.10, uv.lock has >=3.12") != std::string::npos);
  CHECK(all.find("app dependencies: pyproject.toml has click>=8.1 for 'click', uv.lock has click>=8") !=
        std::string::npos);
  CHECK(all.find("pyproject.toml has rich for 'rich', uv.lock has nothing") != std::string::npos);
  CHECK(all.find("app group 'dev': pyproject.toml has ruff for 'ruff', uv.lock has nothing") != std::string::npos);
}

TEST_CASE("freshness: dynamic dependencies are not compared; a missing project is") {
  auto lock = uv_lock(kApp + "\n[package.metadata]\nrequires-dist = [{ name = \"anything\" }]\n");
  auto dynamic = app_project("dynamic = [\"dependencies\"]\n");
  CHECK(plan::check_freshness(dynamic, lock).empty());
  auto other = project::parse("[project]\nname = \"other\"\n", "/work/app/pyproject.toml");
  auto diffs = plan::check_freshness(other, lock);
  REQUIRE(diffs.size() == 1);
  CHECK(diffs[0] == "project 'other' is not in uv.lock");
}

TEST_CASE("Pyodide builds need an index URL: without one the plan says where to set it") {
  auto lock = uv_lock(kApp);
  Selection s;
  s.stdlib = {"ssl"};
  auto t = pyodide_0_29();
  t.index_url.clear();
  auto p = plan::make_plan(app_project(), lock, t, s);
  REQUIRE(p.problems.size() == 1);
  CHECK(p.problems[0].fix.find("pyodide-index") != std::string::npos);
}

TEST_CASE("--package takes default-groups from that member's own pyproject.toml") {
  auto lock = uv_lock(kApp + R"(
[[package]]
name = "worker"
version = "0.1.0"
source = { editable = "workers/worker" }

[package.dev-dependencies]
dev = [{ name = "pytest" }]
docs = [{ name = "mkdocs" }]
)" + pure("pytest", "8.0.0") +
                          pure("mkdocs", "1.6.0"),
                      "[manifest]\nmembers = [\"app\", \"worker\"]\n");
  auto proj = app_project();
  proj.members.push_back(
      project::parse("[project]\nname = \"worker\"\n[dependency-groups]\ndev = [\"pytest\"]\n"
                     "docs = [\"mkdocs\"]\n[tool.uv]\ndefault-groups = [\"docs\"]\n",
                     "/work/app/workers/worker/pyproject.toml"));
  Selection worker;
  worker.packages = {"worker"};
  CHECK(names(plan::make_plan(proj, lock, pyodide_0_29(), worker)) == std::vector<std::string>{"mkdocs", "worker"});
}
