#include <doctest/doctest.h>

#include <fstream>

#include "snapshot/smoke.hpp"
#include "testing.hpp"
#include "util/fs.hpp"

namespace stdfs = std::filesystem;
using namespace pb::snapshot;
using pb::testing::TempDir;

namespace {

void put(const stdfs::path& file, const std::string& text = "") {
  stdfs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

std::string listed(const std::vector<SmokeModule>& mods) {
  std::string s;
  for (const auto& m : mods) s += m.module + "(" + m.distribution + ") ";
  return s;
}

}  // namespace

TEST_CASE("vendored modules come from top_level.txt, else from RECORD") {
  TempDir t;
  auto pm = t.path / "python_modules";
  // top_level.txt wins; a name it lists that is not on disk is left out.
  put(pm / "PyYAML-6.0.dist-info" / "top_level.txt", "_yaml\nyaml\ngone\n");
  put(pm / "PyYAML-6.0.dist-info" / "RECORD", "yaml/__init__.py,,\nother/__init__.py,,\n");
  put(pm / "yaml" / "__init__.py");
  put(pm / "_yaml" / "__init__.py");
  // RECORD: a module file, a package, an extension module, a quoted path; not data folders,
  // scripts, __pycache__, .dist-info, non-identifiers, or a `tests` package trimmed away.
  put(pm / "python_dateutil-2.8.2.dist-info" / "RECORD",
      "six.py,sha256=x,1\n"
      "dateutil/__init__.py,sha256=x,1\n"
      "\"dateutil/a,b.py\",sha256=x,1\n"
      "_speedups.cpython-313-wasm32-emscripten.so,sha256=x,1\n"
      "python_dateutil-2.8.2.dist-info/RECORD,,\n"
      "__pycache__/six.cpython-313.pyc,,\n"
      "python_dateutil-2.8.2.data/scripts/tool,,\n"
      "share/readme.txt,,\n"
      "not-a-name/x.py,,\n"
      "tests/test_x.py,,\n"
      "README.md,,\n");
  put(pm / "six.py");
  put(pm / "dateutil" / "__init__.py");
  put(pm / "_speedups.cpython-313-wasm32-emscripten.so");
  put(pm / "share" / "readme.txt");
  // Two distributions shipping one namespace package: listed once, naming both.
  put(pm / "zope.interface-5.0.dist-info" / "RECORD", "zope/interface/__init__.py,,\n");
  put(pm / "zope_event-4.0.dist-info" / "RECORD", "zope/event/__init__.py,,\n");
  put(pm / "zope" / "interface" / "__init__.py");
  put(pm / "zope" / "event" / "__init__.py");

  CHECK(listed(vendored_modules(pm)) ==
        "_speedups(python-dateutil) _yaml(pyyaml) dateutil(python-dateutil) six(python-dateutil) yaml(pyyaml) "
        "zope(zope-interface, zope-event) ");
}

TEST_CASE("the default smoke list starts with the entry") {
  TempDir t;
  put(t.path / "python_modules" / "six-1.16.0.dist-info" / "RECORD", "six.py,,\n");
  put(t.path / "python_modules" / "six.py");
  pb::bundle::Manifest manifest;
  manifest.entry = pb::bundle::Entry{"app/app.py", "app", ""};
  auto mods = smoke_modules(t.path, manifest);
  CHECK(listed(mods) == "app() six(six) ");
  CHECK(names(mods) == std::vector<std::string>{"app", "six"});
  CHECK(listed(smoke_modules(t.path / "missing", manifest)) == "app() ");
}

TEST_CASE("culprits: the removed files a failure names as missing") {
  std::vector<std::string> removed = {"pkg/tests/__init__.py",
                                      "pkg/tests/test_a.py",
                                      "pkg/testsuite.py",
                                      "pkg/core.pyi",
                                      "pkg/_speed.cpython-313-wasm32-emscripten.so",
                                      "pkg/docs/index.rst",
                                      "other/tests/__init__.py"};
  SmokeResult r;
  r.missing_module = "pkg.tests";
  CHECK(culprits(r, removed) == std::vector<std::string>{"pkg/tests/__init__.py", "pkg/tests/test_a.py"});
  r.missing_module = "pkg._speed";
  CHECK(culprits(r, removed) == std::vector<std::string>{"pkg/_speed.cpython-313-wasm32-emscripten.so"});
  r.missing_module = "pkg.core";  // a stub is not the module
  CHECK(culprits(r, removed).empty());
  r = {};
  r.missing_file = "python_modules/pkg/core.pyi";
  CHECK(culprits(r, removed) == std::vector<std::string>{"pkg/core.pyi"});
  r.missing_file = "/lib/python3.13/os.py";
  CHECK(culprits(r, removed).empty());
  CHECK(culprits(SmokeResult{}, removed).empty());
}
