// Wheel file names, METADATA headers and RECORD rows.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.hpp"
#include "wheel/wheel.hpp"

using pb::wheel::Tag;
using pb::wheel::WheelName;

TEST_CASE("wheel: file names") {
  auto w = WheelName::parse("pydantic_core-2.41.5-cp314-cp314-pyemscripten_2026_0_wasm32.whl");
  CHECK(w.distribution == "pydantic_core");
  CHECK(w.version == "2.41.5");
  CHECK_FALSE(w.build);
  REQUIRE(w.tags.size() == 1);
  CHECK(w.tags[0] == Tag{"cp314", "cp314", "pyemscripten_2026_0_wasm32"});
  CHECK(w.tags[0].str() == "cp314-cp314-pyemscripten_2026_0_wasm32");

  w = WheelName::parse("six-1.16.0-py2.py3-none-any.whl");
  REQUIRE(w.tags.size() == 2);
  CHECK(w.tags[0].str() == "py2-none-any");
  CHECK(w.tags[1].str() == "py3-none-any");

  w = WheelName::parse("numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl");
  REQUIRE(w.tags.size() == 2);
  CHECK(w.tags[1].platform == "manylinux2014_x86_64");

  w = WheelName::parse("foo-1.0-py2.py3-none.abi3-any.linux_x86_64.whl");
  CHECK(w.tags.size() == 8);

  w = WheelName::parse("Foo.Bar-1.0+local-12abc-py3-none-any.whl");
  CHECK(w.distribution == "Foo.Bar");
  CHECK(w.version == "1.0+local");
  REQUIRE(w.build);
  CHECK(w.build->first == 12);
  CHECK(w.build->second == "abc");

  w = WheelName::parse("foo-1.0-7-PY3-NONE-ANY.whl");
  CHECK(w.build->first == 7);
  CHECK(w.build->second.empty());
  CHECK(w.tags[0].str() == "py3-none-any");  // tags are case-insensitive, kept lowercase
}

TEST_CASE("wheel: malformed file names") {
  for (const char* bad : {"", ".whl", "foo-1.0.whl", "foo-1.0-py3-none-any.tar.gz", "foo-1.0-py3-none-any",
                          "foo-1.0-x-py3-none-any.whl", "foo-1.0-1-2-py3-none-any.whl", "foo--py3-none-any.whl",
                          "foo-1.0-py3..py2-none-any.whl", "foo-1.0-py3-none-.whl", "foo-1.0-py3-none-any/x.whl",
                          "fo o-1.0-py3-none-any.whl", "foo-1.0-99999999999999999999999-py3-none-any.whl"}) {
    INFO(bad);
    CHECK_FALSE(WheelName::try_parse(bad));
  }
  CHECK_THROWS_WITH_AS(WheelName::parse("foo.whl"), doctest::Contains("foo.whl"), pb::Error);
  // Compressed tag sets may not explode.
  std::string many;
  for (int i = 0; i < 20; ++i) {
    if (i) many += '.';
    many += 't' + std::to_string(i);
  }
  CHECK_FALSE(WheelName::try_parse("foo-1.0-" + many + "-" + many + "-" + many + ".whl"));
}

TEST_CASE("wheel: file names from URLs are percent-decoded") {
  using pb::wheel::filename_from_url;
  CHECK(filename_from_url(
            "https://example.invalid/whl/cu128/torch-2.11.0%2Bcu128-cp312-cp312-manylinux_2_28_aarch64.whl") ==
        "torch-2.11.0+cu128-cp312-cp312-manylinux_2_28_aarch64.whl");
  CHECK(filename_from_url("https://example.invalid/a/b/six-1.16.0-py2.py3-none-any.whl#sha256=abc") ==
        "six-1.16.0-py2.py3-none-any.whl");
  CHECK(filename_from_url("http://127.0.0.1:8765/x.whl?download=1") == "x.whl");
  CHECK(filename_from_url("x.whl") == "x.whl");
  CHECK(filename_from_url("a/100%25%2") == "100%%2");
  CHECK(filename_from_url("a/%zz.whl") == "%zz.whl");
}

TEST_CASE("wheel: METADATA headers") {
  auto m = pb::wheel::parse_metadata(
      "Metadata-Version: 2.1\r\n"
      "Name: attrs\r\n"
      "Version: 22.2.0\r\n"
      "Summary: Classes Without Boilerplate\r\n"
      "requires-python: >=3.6\r\n"
      "Provides-Extra: cov\r\n"
      "Requires-Dist: attrs[tests] ; extra == 'cov'\r\n"
      "Requires-Dist: coverage[toml] (>=5.3) ;\r\n"
      "  extra == 'cov'\r\n"
      "Provides-Extra: docs\r\n"
      "Description: first line\r\n"
      "        |continued\r\n"
      "\r\n"
      "Requires-Dist: not-a-header-in-the-body\r\n");
  CHECK(m.name == "attrs");
  CHECK(m.version == "22.2.0");
  CHECK(m.requires_python == ">=3.6");
  CHECK(m.provides_extra == std::vector<std::string>{"cov", "docs"});
  REQUIRE(m.requires_dist.size() == 2);
  CHECK(m.requires_dist[1] == "coverage[toml] (>=5.3) ; extra == 'cov'");
  auto empty = pb::wheel::parse_metadata("");
  CHECK(empty.name.empty());
  CHECK(pb::wheel::parse_metadata("Name:x\nno colon line\nVersion:  1 \n").version == "1");
}

TEST_CASE("wheel: RECORD rows") {
  auto rows = pb::wheel::parse_record(
      "attr/__init__.py,sha256=abc_-123,2400\n"
      "\"weird, name.py\",sha256=def,12\r\n"
      "\"say \"\"hi\"\".py\",,\n"
      "\n"
      "attrs-22.2.0.dist-info/RECORD,,\n");
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].path == "attr/__init__.py");
  CHECK(rows[0].hash_algorithm == "sha256");
  CHECK(rows[0].hash_value == "abc_-123");
  CHECK(rows[0].size == 2400u);
  CHECK(rows[1].path == "weird, name.py");
  CHECK(rows[2].path == "say \"hi\".py");
  CHECK(rows[2].hash_algorithm.empty());
  CHECK_FALSE(rows[2].size);
  CHECK(rows[3].path == "attrs-22.2.0.dist-info/RECORD");
  CHECK(pb::wheel::parse_record("").empty());
  CHECK(pb::wheel::parse_record("a,sha256=x,1").size() == 1);  // no final newline
}

TEST_CASE("wheel: malformed RECORD rows name their line") {
  CHECK_THROWS_WITH_AS(pb::wheel::parse_record("a,sha256=x,1\nb,sha256=y\n"), doctest::Contains("RECORD:2:"),
                       pb::Error);
  CHECK_THROWS_WITH_AS(pb::wheel::parse_record("a,,1,2\n"), doctest::Contains("3 fields"), pb::Error);
  CHECK_THROWS_WITH_AS(pb::wheel::parse_record("a,md5,1\n"), doctest::Contains("algorithm=value"), pb::Error);
  CHECK_THROWS_WITH_AS(pb::wheel::parse_record("\n\na,sha256=x,12k\n"), doctest::Contains("RECORD:3:"), pb::Error);
  CHECK_THROWS_AS(pb::wheel::parse_record("\"a,sha256=x,1\n"), pb::Error);
  CHECK_THROWS_AS(pb::wheel::parse_record("\"a\"b,sha256=x,1\n"), pb::Error);
  CHECK_THROWS_AS(pb::wheel::parse_record(",sha256=x,1\n"), pb::Error);
  pb::Exit code = pb::Exit::ok;
  try {
    pb::wheel::parse_record("a,x,1\n");
  } catch (const pb::Error& e) {
    code = e.code();
  }
  CHECK(code == pb::Exit::problems);
}

TEST_CASE("wheel: every wheel file name in the real lock files parses") {
  auto dir = std::filesystem::path(PYBUNDLE_SOURCE_ROOT) / ".." / "shared" / "real-locks";
  if (const char* env = std::getenv("PYBUNDLE_REAL_LOCKS")) dir = env;
  if (!std::filesystem::is_directory(dir)) {
    MESSAGE("skipped: no real locks at " << dir.string() << " (set PYBUNDLE_REAL_LOCKS)");
    return;
  }
  size_t wheels = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto lock = entry.path() / "uv.lock";
    if (!std::filesystem::exists(lock)) continue;
    std::ifstream in(lock, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    // Every `…/NAME.whl"` in the file: URLs of [[package]] wheels.
    for (size_t pos = 0; (pos = text.find(".whl\"", pos)) != std::string::npos; pos += 5) {
      size_t start = text.rfind('"', pos - 1);
      std::string name = pb::wheel::filename_from_url(text.substr(start + 1, pos + 4 - start - 1));
      INFO(lock.string(), ": ", name);
      auto w = WheelName::try_parse(name);
      REQUIRE(w);
      CHECK(!w->tags.empty());
      ++wheels;
    }
  }
  MESSAGE(wheels << " wheel file names");
  CHECK(wheels > 1000);
}
