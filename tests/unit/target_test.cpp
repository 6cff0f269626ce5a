// Pyodide releases as targets, read from trimmed copies of their own pyodide-lock.json.
#include <doctest/doctest.h>

#include <filesystem>

#include "target/target.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"

using pb::target::Target;
using pb::wheel::WheelName;

namespace {
std::filesystem::path fixture(const char* version) {
  return std::filesystem::path(PYBUNDLE_SOURCE_ROOT) / "fixtures/targets" / version;
}
std::optional<size_t> rank(const Target& t, const char* wheel) {
  return t.rank(WheelName::parse(wheel));
}
}  // namespace

TEST_CASE("target: parse_target_spec") {
  CHECK(pb::target::parse_target_spec("pyodide@0.29.3") == "0.29.3");
  CHECK(pb::target::parse_target_spec("pyodide@314.0.7") == "314.0.7");
  CHECK(pb::target::parse_target_spec("pyodide@0.28.0a1") == "0.28.0a1");
  for (const char* bad : {"", "pyodide", "pyodide@", "0.29.3", "pyodide@latest", "cpython@3.13", "pyodide@0.29/../x"}) {
    INFO(bad);
    CHECK_THROWS_AS(pb::target::parse_target_spec(bad), pb::Error);
  }
}

TEST_CASE("target: facts come from pyodide-lock.json, the version from the request") {
  auto t = Target::load(fixture("0.29.3"), "0.29.3");
  CHECK(t.pyodide_version == "0.29.3");  // the lock's info.version says 0.28.0.dev0
  CHECK(t.python_version == "3.13.2");
  CHECK(t.python_minor() == "3.13");
  CHECK(t.abi_version == "2025_0");
  CHECK(t.platform == "emscripten_4_0_9");
  CHECK(t.emscripten_version == "4.0.9");
  CHECK(t.arch == "wasm32");
  CHECK(t.runtime_dir == fixture("0.29.3"));

  auto t314 = Target::load(fixture("314.0.7"), "314.0.7");  // no info.version at all
  CHECK(t314.pyodide_version == "314.0.7");
  CHECK(t314.python_version == "3.14.2");
  CHECK(t314.abi_version == "2026_0");
  CHECK(t314.emscripten_version == "5.0.3");

  auto t27 = Target::load(fixture("0.27.7"), "0.27.7");
  CHECK(t27.python_minor() == "3.12");
  CHECK(t27.emscripten_version == "3.1.58");
}

TEST_CASE("target: the package table, by normalized name") {
  auto t = Target::load(fixture("0.29.3"), "0.29.3");
  REQUIRE(t.packages.count("pydantic-core"));
  const auto& pc = t.packages.at("pydantic-core");
  CHECK(pc.name == "pydantic_core");
  CHECK(pc.version == "2.41.5");
  CHECK(pc.file_name == "pydantic_core-2.41.5-cp313-cp313-pyodide_2025_0_wasm32.whl");
  CHECK(pc.sha256.size() == 64);
  CHECK(pc.package_type == "package");
  CHECK(pc.install_dir == "site");
  CHECK(pc.depends == std::vector<std::string>{"typing-extensions"});
  CHECK(pc.imports == std::vector<std::string>{"pydantic_core"});
  REQUIRE(t.packages.count("ssl"));
  CHECK(t.packages.at("ssl").package_type == "cpython_module");
  CHECK(t.packages.at("ssl").imports == std::vector<std::string>{"ssl", "_ssl"});
  CHECK(t.packages.at("hashlib").package_type == "cpython_module");
  CHECK(t.packages.at("libopenssl").package_type == "shared_library");
  CHECK(t.packages.at("libopenssl").install_dir == "dynlib");
  CHECK(t.packages.count("typing-extensions"));
  CHECK_FALSE(t.packages.count("typing_extensions"));
}

TEST_CASE("target: the index URL is derived from the runtime's own pyodide.mjs") {
  CHECK(Target::load(fixture("0.29.3"), "0.29.3").index_url == "https://example.invalid/pyodide/v0.29.3/full/");
  CHECK(Target::load(fixture("0.27.7"), "0.27.7").index_url == "https://example.invalid/pyodide/v0.27.7/full/");
  CHECK(Target::load(fixture("314.0.7"), "314.0.7").index_url == "https://example.invalid/pyodide/v314.0.7/full/");
  using pb::target::find_index_url;
  CHECK(find_index_url("x=`http://h.invalid/a/v${v}/b/`", "1.0") == "http://h.invalid/a/v1.0/b/");
  CHECK(find_index_url("x=`https://h.invalid/v${a.b}/`;y", "2") == "https://h.invalid/v2/");
  CHECK(find_index_url("no template here", "1.0").empty());
  CHECK(find_index_url("`/v${x}/`", "1.0").empty());                       // not a URL
  CHECK(find_index_url("`https://h.invalid/v${f(x)}/`", "1.0").empty());   // not a plain expression
  CHECK(find_index_url("`https://h.invalid/v${x}/${y}`", "1.0").empty());  // two substitutions
  CHECK(find_index_url("/v${", "1.0").empty());
  CHECK(find_index_url("`https://h.invalid/v${x", "1.0").empty());

  // A runtime without pyodide.mjs: no default URL.
  auto dir = pb::fs::make_temp_dir(std::filesystem::temp_directory_path() / "x", "pb-target-");
  std::filesystem::copy_file(fixture("0.29.3") / "pyodide-lock.json", dir / "pyodide-lock.json");
  CHECK(Target::load(dir, "0.29.3").index_url.empty());
  std::filesystem::remove_all(dir);
}

TEST_CASE("target: compatible tags in DESIGN.md order") {
  auto t = Target::load(fixture("0.29.3"), "0.29.3");
  auto tags = t.tags();
  std::vector<std::string> s;
  for (const auto& tag : tags) s.push_back(tag.str());
  REQUIRE(s.size() == 103);
  CHECK(s[0] == "cp313-cp313-pyemscripten_2025_0_wasm32");
  CHECK(s[1] == "cp313-cp313-pyodide_2025_0_wasm32");
  CHECK(s[2] == "cp313-cp313-emscripten_4_0_9_wasm32");
  CHECK(s[3] == "cp313-abi3-pyemscripten_2025_0_wasm32");
  CHECK(s[6] == "cp312-abi3-pyemscripten_2025_0_wasm32");
  CHECK(s[38] == "cp32-abi3-emscripten_4_0_9_wasm32");
  CHECK(s[39] == "cp313-none-pyemscripten_2025_0_wasm32");
  CHECK(s[42] == "py313-none-pyemscripten_2025_0_wasm32");
  CHECK(s[87] == "cp313-none-any");
  CHECK(s[88] == "py313-none-any");
  CHECK(s[89] == "py3-none-any");
  CHECK(s[90] == "py312-none-any");
  CHECK(s[102] == "py30-none-any");
  for (const auto& x : s) {
    INFO(x);
    CHECK(x.find("2024_0") == std::string::npos);  // only the declared ABI
    CHECK(x.find("2026_0") == std::string::npos);
  }
}

TEST_CASE("target: rank orders wheels and rejects other platforms and ABIs") {
  auto t29 = Target::load(fixture("0.29.3"), "0.29.3");
  auto t27 = Target::load(fixture("0.27.7"), "0.27.7");
  auto t314 = Target::load(fixture("314.0.7"), "314.0.7");
  const char* em314 = "pydantic_core-2.41.5-cp314-cp314-pyemscripten_2026_0_wasm32.whl";
  CHECK(rank(t314, em314) == 0u);
  CHECK_FALSE(rank(t27, em314));
  CHECK_FALSE(rank(t29, em314));
  CHECK(rank(t27, "pydantic_core-2.27.2-cp312-cp312-pyodide_2024_0_wasm32.whl") == 1u);
  CHECK_FALSE(rank(t29, "pydantic_core-2.27.2-cp312-cp312-pyodide_2024_0_wasm32.whl"));
  CHECK_FALSE(rank(t29, "pydantic_core-2.41.5-cp313-cp313-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"));
  CHECK_FALSE(rank(t29, "foo-1.0-cp312-cp312-pyodide_2025_0_wasm32.whl"));  // other CPython ABI
  CHECK_FALSE(rank(t29, "foo-1.0-py2-none-any.whl"));
  auto any = rank(t29, "six-1.16.0-py2.py3-none-any.whl");
  auto abi3 = rank(t29, "foo-1.0-cp38-abi3-emscripten_4_0_9_wasm32.whl");
  auto native = rank(t29, "foo-1.0-cp313-cp313-emscripten_4_0_9_wasm32.whl");
  REQUIRE(any);
  REQUIRE(abi3);
  REQUIRE(native);
  CHECK(*native < *abi3);
  CHECK(*abi3 < *any);
  CHECK(rank(t29, "foo-1.0-py313-none-any.whl") < rank(t29, "foo-1.0-py3-none-any.whl"));
  CHECK(rank(t29, "foo-1.0-py3-none-any.whl") < rank(t29, "foo-1.0-py38-none-any.whl"));
  // A compressed tag set ranks by its best tag.
  CHECK(rank(t29, "foo-1.0-py3-none-any.emscripten_4_0_9_wasm32.whl") < rank(t29, "foo-1.0-py3-none-any.whl"));
}

TEST_CASE("target: marker environment") {
  auto t = Target::load(fixture("0.29.3"), "0.29.3");
  auto env = t.environment();
  CHECK(env.at("sys_platform") == "emscripten");
  CHECK(env.at("platform_system") == "Emscripten");
  CHECK(env.at("platform_machine") == "wasm32");
  CHECK(env.at("os_name") == "posix");
  CHECK(env.at("implementation_name") == "cpython");
  CHECK(env.at("platform_python_implementation") == "CPython");
  CHECK(env.at("platform_release") == "4.0.9");
  CHECK(env.at("python_version") == "3.13");
  CHECK(env.at("python_full_version") == "3.13.2");
  CHECK(env.at("implementation_version") == "3.13.2");
  CHECK(env.at("platform_version") == "");
  auto m = pb::pep508::Marker::parse(
      "python_full_version >= '3.13' and sys_platform == 'emscripten' and platform_machine == 'wasm32'");
  CHECK(m.evaluate(env));
  CHECK_FALSE(pb::pep508::Marker::parse("python_version < '3.13'").evaluate(env));
}

TEST_CASE("target: bad runtime directories are explained") {
  auto dir = pb::fs::make_temp_dir(std::filesystem::temp_directory_path() / "x", "pb-target-");
  CHECK_THROWS_WITH_AS(Target::load(dir, "0.29.3"), doctest::Contains("pyodide-lock.json"), pb::Error);
  auto write = [&](const char* text) { pb::fs::write_file_atomic(dir / "pyodide-lock.json", text); };
  write("{not json");
  CHECK_THROWS_WITH_AS(Target::load(dir, "1"), doctest::Contains("invalid JSON"), pb::Error);
  write("[]");
  CHECK_THROWS_AS(Target::load(dir, "1"), pb::Error);
  write(R"({"info": {"python": "3.13.2", "abi_version": "2025_0", "arch": "wasm32"}})");
  CHECK_THROWS_WITH_AS(Target::load(dir, "1"), doctest::Contains("'platform'"), pb::Error);
  write(R"({"info": {"python": "3.13.2", "abi_version": "2025_0", "arch": "wasm32", "platform": "linux"}})");
  CHECK_THROWS_WITH_AS(Target::load(dir, "1"), doctest::Contains("emscripten"), pb::Error);
  write(R"({"info": {"python": "x", "abi_version": "2025_0", "arch": "wasm32", "platform": "emscripten_4_0_9"}})");
  CHECK_THROWS_WITH_AS(Target::load(dir, "1"), doctest::Contains("Python 3"), pb::Error);
  write(R"({"info": {"python": "3.13.2", "abi_version": "2025_0", "arch": "wasm32", "platform": "emscripten_4_0_9"},
            "packages": {"foo": {"name": "foo", "file_name": "foo.whl"}}})");
  CHECK_THROWS_WITH_AS(Target::load(dir, "1"), doctest::Contains("package 'foo'"), pb::Error);
  write(R"({"info": {"python": "3.13.2", "abi_version": "2025_0", "arch": "wasm32", "platform": "emscripten_4_0_9"},
            "packages": {"Foo_Bar": {"version": "1", "file_name": "foo.whl", "depends": ["Typing_Extensions"]}}})");
  auto t = Target::load(dir, "");
  REQUIRE(t.packages.count("foo-bar"));
  CHECK(t.packages.at("foo-bar").name == "Foo_Bar");
  CHECK(t.packages.at("foo-bar").depends == std::vector<std::string>{"typing-extensions"});
  CHECK(t.pyodide_version.empty());
  // Found while fuzzing (tests/fuzz/fuzz_pyodidelock): a huge minor made tags() run for ever.
  write(R"({"info":{"python":"3.999999999","abi_version":"x","platform":"emscripten_1","arch":"wasm32"}})");
  CHECK_THROWS_WITH_AS(Target::load(dir, "1"), doctest::Contains("is not a Python 3 version"), pb::Error);
  write(R"({"info":{"python":"3.99","abi_version":"x","platform":"emscripten_1","arch":"wasm32"}})");
  CHECK(Target::load(dir, "1").tags().size() > 99);
  std::filesystem::remove_all(dir);
}
