// PEP 508 markers and requirements, uv's extras-as-a-set semantics, and every marker of the
// real lock files.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pep508/requirement.hpp"
#include "util/error.hpp"

using pb::pep508::ActiveExtras;
using pb::pep508::Environment;
using pb::pep508::Marker;
using pb::pep508::Requirement;

namespace {

const Environment& pyodide_env() {
  static const Environment env = {
      {"python_version", "3.13"},
      {"python_full_version", "3.13.2"},
      {"implementation_version", "3.13.2"},
      {"os_name", "posix"},
      {"sys_platform", "emscripten"},
      {"platform_system", "Emscripten"},
      {"platform_machine", "wasm32"},
      {"platform_release", "4.0.9"},
      {"platform_version", ""},
      {"implementation_name", "cpython"},
      {"platform_python_implementation", "CPython"},
  };
  return env;
}

bool ev(const char* marker, const ActiveExtras& extras = {}) {
  return Marker::parse(marker).evaluate(pyodide_env(), extras);
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every TOML basic string on a `marker = "..."` / `specifier = "..."` key, and every string in a
// `*-markers = [...]` array, of a uv.lock (a plain scan: these strings hold no escapes).
struct LockStrings {
  std::vector<std::string> markers, specifiers;
};
void take_strings_after(const std::string& line, size_t from, std::vector<std::string>& out) {
  while (true) {
    size_t a = line.find('"', from);
    if (a == std::string::npos) return;
    size_t b = line.find('"', a + 1);
    if (b == std::string::npos) return;
    out.push_back(line.substr(a + 1, b - a - 1));
    from = b + 1;
  }
}
void take_key(const std::string& line, const std::string& key, std::vector<std::string>& out) {
  size_t pos = 0;
  while ((pos = line.find(key, pos)) != std::string::npos) {
    bool boundary = pos == 0 || line[pos - 1] == ' ' || line[pos - 1] == '{' || line[pos - 1] == ',';
    size_t q = pos + key.size();
    pos = q;
    if (!boundary || q >= line.size() || line[q] != '"') continue;
    size_t end = line.find('"', q + 1);
    if (end == std::string::npos) return;
    out.push_back(line.substr(q + 1, end - q - 1));
    pos = end + 1;
  }
}
LockStrings scan_lock(const std::string& text) {
  LockStrings r;
  std::istringstream in(text);
  std::string line;
  bool in_array = false;
  while (std::getline(in, line)) {
    if (in_array) {
      if (line.rfind("]", 0) == 0) {
        in_array = false;
        continue;
      }
      take_strings_after(line, 0, r.markers);
      continue;
    }
    size_t k = line.find("-markers = [");
    if (k != std::string::npos && line.find('=') > k) {
      size_t open = line.find('[', k);
      if (line.find(']', open) == std::string::npos) {
        in_array = true;
        take_strings_after(line, open, r.markers);
      } else {
        take_strings_after(line, open, r.markers);
      }
      continue;
    }
    take_key(line, "marker = ", r.markers);
    take_key(line, "specifier = ", r.specifiers);
  }
  return r;
}

std::filesystem::path real_locks_dir() {
  if (const char* env = std::getenv("PYBUNDLE_REAL_LOCKS")) return env;
  return std::filesystem::path(PYBUNDLE_SOURCE_ROOT) / ".." / "shared" / "real-locks";
}

}  // namespace

TEST_CASE("pep508: name normalization (PEP 503)") {
  using pb::pep508::normalize_name;
  CHECK(normalize_name("Friendly-Bard") == "friendly-bard");
  CHECK(normalize_name("FRIENDLY-BARD") == "friendly-bard");
  CHECK(normalize_name("friendly.bard") == "friendly-bard");
  CHECK(normalize_name("friendly_bard") == "friendly-bard");
  CHECK(normalize_name("friendly--bard") == "friendly-bard");
  CHECK(normalize_name("FrIeNdLy-._.-bArD") == "friendly-bard");
  CHECK(normalize_name("zope.interface") == "zope-interface");
}

TEST_CASE("pep508: marker grammar") {
  CHECK(ev("sys_platform == 'emscripten'"));
  CHECK(ev("sys_platform == \"emscripten\""));
  CHECK_FALSE(ev("sys_platform == 'win32'"));
  CHECK(ev("sys_platform != 'win32' and platform_machine == 'wasm32'"));
  CHECK(ev("sys_platform == 'win32' or os_name == 'posix'"));
  CHECK(ev("(sys_platform == 'win32' or os_name == 'posix') and implementation_name == 'cpython'"));
  CHECK_FALSE(ev("sys_platform == 'win32' or os_name == 'posix' and implementation_name == 'pypy'"));
  CHECK(ev("((((os_name=='posix'))))"));
  CHECK(ev("'emscripten' == sys_platform"));
  CHECK(ev("'scripten' in sys_platform"));
  CHECK(ev("'linux' not in sys_platform"));
  CHECK(ev("sys_platform in 'emscripten wasi'"));
  CHECK(ev("sys_platform not in 'linux darwin'"));
  CHECK(ev("platform_version == ''"));
  CHECK(ev("os.name == 'posix' and sys.platform == 'emscripten' and python_implementation == 'CPython'"));
  CHECK(ev("platform.machine == 'wasm32' and platform.python_implementation == 'CPython'"));
  CHECK(ev("sys_platform=='emscripten'and os_name=='posix'"));
  CHECK_THROWS_AS(ev("os_name == 'it''s'"), pb::Error);  // adjacent strings are not concatenated
}

TEST_CASE("pep508: malformed markers report the column") {
  for (const char* bad :
       {"", "sys_platform", "sys_platform ==", "sys_platform == 'x", "sys_platform = 'x'", "foo == 'x'", "'a' == 'b'",
        "os_name == sys_platform", "(os_name == 'x'", "os_name == 'x')", "os_name == 'x' and",
        "os_name == 'x' andsys_platform == 'y'", "os_name not 'x'", "os_name == 'x' xor os_name == 'y'"}) {
    INFO(bad);
    if (*bad == '\0') {
      CHECK(Marker::parse(bad).is_true());
      continue;
    }
    CHECK_THROWS_WITH_AS(Marker::parse(bad), doctest::Contains("column"), pb::Error);
  }
}

TEST_CASE("pep508: version variables compare as versions, others as strings") {
  CHECK(ev("python_version >= '3.8'"));
  CHECK(ev("python_version > '3.9'"));  // 3.13 > 3.9 as versions, not as strings
  CHECK_FALSE(ev("python_version < '3.9'"));
  CHECK(ev("python_full_version >= '3.13.0'"));
  CHECK(ev("python_full_version == '3.13.*'"));
  CHECK(ev("python_full_version == '3.13.2'"));
  CHECK_FALSE(ev("python_full_version < '3.13.2'"));
  CHECK(ev("python_version == '3.13'"));
  CHECK(ev("python_version ~= '3.10'"));
  CHECK_FALSE(ev("python_version ~= '3.14.0'"));
  CHECK(ev("python_version === '3.13'"));
  CHECK_FALSE(ev("python_full_version === '3.13'"));
  CHECK(ev("'3.8' < python_version"));
  CHECK_FALSE(ev("'3.14' < python_version"));
  CHECK(ev("python_version in '3.12 3.13'"));
  CHECK(ev("python_version not in '2.7 3.5'"));
  // A version variable against a non-version string falls back to string comparison.
  CHECK(ev("python_version != 'foo'"));
  CHECK_FALSE(ev("python_version == 'foo'"));
  // platform_release is a string variable: compared lexicographically, as uv does.
  CHECK(ev("platform_release >= '4.0.10'"));
  CHECK(ev("platform_release >= '4.0.1'"));
  CHECK(ev("platform_machine > 'aarch64'"));
  CHECK_FALSE(ev("platform_machine ~= 'wasm32'"));
  // Pre-releases of the environment are still versions (markers never apply the pre-release rule).
  Environment pre = pyodide_env();
  pre["python_full_version"] = "3.14.0rc1";
  CHECK(Marker::parse("python_full_version >= '3.13'").evaluate(pre));
  CHECK_FALSE(Marker::parse("python_full_version >= '3.14'").evaluate(pre));
}

TEST_CASE("pep508: extra is a set (uv conflict markers)") {
  CHECK_FALSE(ev("extra == 'cov'"));
  CHECK(ev("extra != 'cov'"));
  CHECK(ev("extra == 'cov'", {"cov"}));
  CHECK(ev("extra == 'tests_no_zope'", {"tests-no-zope"}));  // both sides normalized
  CHECK(ev("extra == 'Tests.No-Zope'", {"tests-no-zope"}));
  CHECK(ev("extra == 'extra-11-pydantic-ai-mcp' and extra == 'group-11-pydantic-ai-dev'",
           {"extra-11-pydantic-ai-mcp", "group-11-pydantic-ai-dev"}));
  CHECK_FALSE(
      ev("extra == 'extra-11-pydantic-ai-mcp' and extra == 'group-11-pydantic-ai-dev'", {"extra-11-pydantic-ai-mcp"}));
  CHECK(ev("extra == 'project-8-my-app' and extra != 'group-8-my-app-dev'", {"project-8-my-app"}));
  CHECK(ev("(platform_python_implementation == \"CPython\") and extra == 'tests-no-zope'", {"tests-no-zope"}));
  CHECK(ev("'cov' == extra", {"cov"}));
  // PEP 751 set variables.
  CHECK(ev("'cli' in extras", {"cli"}));
  CHECK(ev("'cli' not in extras"));
  CHECK(ev("'dev' in dependency_groups", {"dev"}));
  CHECK_FALSE(ev("'dev' in dependency_groups"));
}

TEST_CASE("pep508: possible() asks whether some choice of extras satisfies the marker") {
  const auto& env = pyodide_env();
  CHECK(Marker::parse("extra == 'a'").possible(env));
  CHECK(Marker::parse("extra != 'a'").possible(env));
  CHECK_FALSE(Marker::parse("extra == 'a' and extra != 'a'").possible(env));
  CHECK(Marker::parse("extra == 'a' and extra != 'b'").possible(env));
  CHECK_FALSE(Marker::parse("sys_platform == 'win32' and extra == 'a'").possible(env));
  CHECK(Marker::parse("sys_platform == 'win32' or extra == 'a'").possible(env));
  CHECK_FALSE(Marker::parse("sys_platform == 'win32'").possible(env));
  CHECK(Marker::parse("").possible(env));
  CHECK_FALSE(Marker::parse("(extra == 'a' or extra == 'b') and extra != 'a' and extra != 'b'").possible(env));
  CHECK(Marker::parse("(extra == 'a' or extra == 'b') and extra != 'a'").possible(env));
  // A uv marker with many extras stays fast (pruned search, not 2^n).
  std::string big = "python_full_version < '3.10'";
  for (int i = 0; i < 40; ++i)
    big += " or (extra == 'x" + std::to_string(i) + "' and extra != 'y" + std::to_string(i) + "')";
  CHECK(Marker::parse(big).possible(env));
  std::string none = "sys_platform == 'win32'";
  for (int i = 0; i < 40; ++i) none += " and extra != 'x" + std::to_string(i) + "'";
  CHECK_FALSE(Marker::parse(none).possible(env));
  // A contradiction hidden behind 60 unrelated extras exhausts the bounded search, which
  // answers "possible" (the actual extras decide later) instead of searching 2^60 cases.
  std::string hard;
  for (int i = 0; i < 30; ++i)
    hard += "(extra == 'a" + std::to_string(i) + "' or extra == 'b" + std::to_string(i) + "') and ";
  hard += "extra == 'z' and extra != 'z'";
  CHECK(Marker::parse(hard).possible(env));
  CHECK_FALSE(Marker::parse(hard).evaluate(env, {"a1", "z"}));
}

TEST_CASE("pep508: markers print in a normal form that parses back") {
  auto m = Marker::parse("(os_name==\"posix\" or sys_platform=='x') and (extra=='Foo_Bar')");
  CHECK(m.str() == "(os_name == 'posix' or sys_platform == 'x') and extra == 'foo-bar'");
  CHECK(Marker::parse(m.str()).str() == m.str());
  CHECK(Marker::parse("os_name == \"it's\"").str() == "os_name == \"it's\"");
}

TEST_CASE("pep508: requirements") {
  auto r = Requirement::parse("coverage[toml] (>=5.3) ; extra == 'cov'");
  CHECK(r.name == "coverage");
  CHECK(r.extras == std::vector<std::string>{"toml"});
  CHECK(r.specifier.str() == ">=5.3");
  CHECK(r.marker.evaluate(pyodide_env(), {"cov"}));
  CHECK_FALSE(r.marker.evaluate(pyodide_env()));
  CHECK(r.str() == "coverage[toml]>=5.3; extra == 'cov'");

  r = Requirement::parse(
      "mypy (<0.990,>=0.971) ; (platform_python_implementation == \"CPython\") and extra == 'tests'");
  CHECK(r.specifier.specs.size() == 2);
  CHECK(r.marker.str() == "platform_python_implementation == 'CPython' and extra == 'tests'");

  r = Requirement::parse("Zope.Interface");
  CHECK(r.name == "Zope.Interface");
  CHECK(r.normalized_name() == "zope-interface");
  CHECK(r.specifier.empty());
  CHECK(r.marker.is_true());

  r = Requirement::parse("requests [security , TESTS_x] >= 2.8.1, == 2.8.* ; python_version < \"2.7\"");
  CHECK(r.extras == std::vector<std::string>{"security", "tests-x"});
  CHECK(r.specifier.str() == ">=2.8.1,==2.8.*");
  CHECK_FALSE(r.marker.evaluate(pyodide_env()));

  r = Requirement::parse("pip @ https://example.invalid/pip-1.0.whl#sha256=abc ; python_version >= '3'");
  CHECK(r.url == "https://example.invalid/pip-1.0.whl#sha256=abc");
  CHECK(r.marker.evaluate(pyodide_env()));
  CHECK(r.str() == "pip @ https://example.invalid/pip-1.0.whl#sha256=abc ; python_version >= '3'");

  r = Requirement::parse("name@file:///tmp/x.whl");
  CHECK(r.url == "file:///tmp/x.whl");
  r = Requirement::parse("name[]>=1;os_name=='posix'");
  CHECK(r.extras.empty());
  CHECK(r.marker.evaluate(pyodide_env()));
  r = Requirement::parse("A");
  CHECK(r.name == "A");
  r = Requirement::parse("pydantic-core==2.41.1");
  CHECK(r.specifier.contains(std::string_view("2.41.1")));
  CHECK_FALSE(r.specifier.contains(std::string_view("2.41.5")));
  CHECK(Requirement::parse("foo===1.0-local;os_name=='posix'").specifier.specs[0].op == pb::pep440::Op::arbitrary);
}

TEST_CASE("pep508: malformed requirements") {
  for (const char* bad : {"", "-foo", "foo[", "foo[bar", "foo[bar,]x", "foo >= ", "foo (>=1.0", "foo @ ",
                          "foo @ https://x y", "foo >=1.0 ; os_name ==", "foo bar", "foo ~= 1", "foo[-x]", "foo ; "}) {
    INFO(bad);
    if (std::string(bad) == "foo ; ") {
      CHECK(Requirement::parse(bad).marker.is_true());
      continue;
    }
    CHECK_THROWS_AS(Requirement::parse(bad), pb::Error);
  }
}

TEST_CASE("pep508: every requires-dist of the wheel corpus parses") {
  auto path = std::filesystem::path(PYBUNDLE_SOURCE_ROOT) / "fixtures/pep508/corpus-requires-dist.txt";
  std::istringstream in(read(path));
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    INFO(line);
    auto r = Requirement::parse(line);
    CHECK(!r.name.empty());
    // Printing and parsing again gives the same requirement.
    CHECK(Requirement::parse(r.str()).str() == r.str());
    ++n;
  }
  CHECK(n > 100);
}

TEST_CASE("pep508: every marker and specifier of the real lock files parses") {
  auto dir = real_locks_dir();
  if (!std::filesystem::is_directory(dir)) {
    MESSAGE("skipped: no real locks at " << dir.string() << " (set PYBUNDLE_REAL_LOCKS)");
    return;
  }
  size_t markers = 0, specifiers = 0, locks = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto lock = entry.path() / "uv.lock";
    if (!std::filesystem::exists(lock)) continue;
    ++locks;
    auto strings = scan_lock(read(lock));
    for (const auto& m : strings.markers) {
      INFO(lock.string(), ": ", m);
      Marker parsed;
      REQUIRE_NOTHROW(parsed = Marker::parse(m));
      CHECK(Marker::parse(parsed.str()).str() == parsed.str());
      bool value = parsed.evaluate(pyodide_env());
      // No extras active: a true marker is also possible.
      if (value) CHECK(parsed.possible(pyodide_env()));
      ++markers;
    }
    for (const auto& s : strings.specifiers) {
      INFO(lock.string(), ": ", s);
      CHECK_NOTHROW(pb::pep440::SpecifierSet::parse(s));
      ++specifiers;
    }
  }
  MESSAGE(locks << " locks, " << markers << " markers, " << specifiers << " specifiers");
  CHECK(locks >= 1);
  CHECK(markers > 0);
}
