// PEP 440, checked against the PEP's own examples.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "pep440/version.hpp"
#include "util/error.hpp"

using pb::pep440::SpecifierSet;
using pb::pep440::Version;

namespace {
std::string norm(const char* s) {
  return Version::parse(s).str();
}
bool in(const char* version, const char* spec, bool pre = false) {
  return SpecifierSet::parse(spec).contains(Version::parse(version), pre);
}
}  // namespace

TEST_CASE("pep440: normalization (PEP 440 'Normalization' section)") {
  CHECK(norm("1.1RC1") == "1.1rc1");
  CHECK(norm("00") == "0");
  CHECK(norm("09000") == "9000");
  CHECK(norm("1.0+foo0100") == "1.0+foo0100");
  CHECK(norm("1.1.a1") == "1.1a1");
  CHECK(norm("1.1-a1") == "1.1a1");
  CHECK(norm("1.1_a1") == "1.1a1");
  CHECK(norm("1.0a.1") == "1.0a1");
  CHECK(norm("1.0a-1") == "1.0a1");
  CHECK(norm("1.1alpha1") == "1.1a1");
  CHECK(norm("1.1beta2") == "1.1b2");
  CHECK(norm("1.1c3") == "1.1rc3");
  CHECK(norm("1.1pre4") == "1.1rc4");
  CHECK(norm("1.1preview5") == "1.1rc5");
  CHECK(norm("1.0.RC1") == "1.0rc1");
  CHECK(norm("1.2a") == "1.2a0");
  CHECK(norm("1.0a") == "1.0a0");
  CHECK(norm("1.2-post2") == "1.2.post2");
  CHECK(norm("1.2post2") == "1.2.post2");
  CHECK(norm("1.2.post-2") == "1.2.post2");
  CHECK(norm("1.2_post_2") == "1.2.post2");
  CHECK(norm("1.0-r4") == "1.0.post4");
  CHECK(norm("1.0-rev4") == "1.0.post4");
  CHECK(norm("1.0r") == "1.0.post0");
  CHECK(norm("1.2.post") == "1.2.post0");
  CHECK(norm("1.0.post") == "1.0.post0");
  CHECK(norm("1.0-1") == "1.0.post1");
  CHECK(norm("1.2-dev2") == "1.2.dev2");
  CHECK(norm("1.2dev2") == "1.2.dev2");
  CHECK(norm("1.2.dev") == "1.2.dev0");
  CHECK(norm("1.0+ubuntu-1") == "1.0+ubuntu.1");
  CHECK(norm("1.0+Ubuntu_1.X") == "1.0+ubuntu.1.x");
  CHECK(norm("v1.0") == "1.0");
  CHECK(norm("V1.0") == "1.0");
  CHECK(norm("  1.0\n") == "1.0");
  CHECK(norm("1!2.0") == "1!2.0");
  CHECK(norm("0!2.0") == "2.0");
  CHECK(norm("1.0a1.post2.dev3+local.7") == "1.0a1.post2.dev3+local.7");
  CHECK(norm("1.0a.post.dev") == "1.0a0.post0.dev0");
  CHECK(norm("1.0a1-1") == "1.0a1.post1");
  // The canonical regex lets a separator trail a label with no number.
  CHECK(norm("2preview-") == "2rc0");
  CHECK(norm("1.dev.") == "1.dev0");
  CHECK(norm("2Post..dev") == "2.post0.dev0");
  CHECK(norm("01a-+devDEV") == "1a0+devdev");
  CHECK(norm("1.0a--1") == "1.0a0.post1");
}

TEST_CASE("pep440: invalid versions") {
  for (const char* bad : {"",           "v",        "1.",
                          ".1",         "1..0",     "1.0-",
                          "1.0+",       "1.0+a..b", "1.0+a-",
                          "1.0 a1",     "1.0ab",    "1.0.post1.post2",
                          "1.0dev1.a1", "!1.0",     "1!",
                          "a1",         "1.0-1-1",  "1.0.*",
                          "1.0 1",      "1.0++",    "99999999999999999999999"}) {
    INFO(bad);
    CHECK_FALSE(Version::try_parse(bad).has_value());
  }
  CHECK_THROWS_AS(Version::parse("nope"), pb::Error);
}

TEST_CASE("pep440: parsed parts") {
  auto v = Version::parse("2!1.2.3rc4.post5.dev6+abc.7");
  CHECK(v.epoch == 2);
  CHECK(v.release == std::vector<uint64_t>{1, 2, 3});
  REQUIRE(v.pre);
  CHECK(v.pre->first == 'c');
  CHECK(v.pre->second == 4);
  CHECK(v.post == 5u);
  CHECK(v.dev == 6u);
  REQUIRE(v.local.size() == 2);
  CHECK(std::get<std::string>(v.local[0]) == "abc");
  CHECK(std::get<uint64_t>(v.local[1]) == 7);
  CHECK(v.is_prerelease());
  CHECK(v.public_version().str() == "2!1.2.3rc4.post5.dev6");
  CHECK(Version::parse("1.0.post1").is_prerelease() == false);
  CHECK(Version::parse("1.0.dev1").is_prerelease());
}

TEST_CASE("pep440: ordering (PEP 440 'Summary of permitted suffixes and relative ordering')") {
  const char* order[] = {
      "1.dev0",
      "1.0.dev456",
      "1.0a1",
      "1.0a2.dev456",
      "1.0a12.dev456",
      "1.0a12",
      "1.0b1.dev456",
      "1.0b2",
      "1.0b2.post345.dev456",
      "1.0b2.post345",
      "1.0rc1.dev456",
      "1.0rc1",
      "1.0",
      "1.0+abc.5",
      "1.0+abc.7",
      "1.0+5",
      "1.0.post456.dev34",
      "1.0.post456",
      "1.0.15",
      "1.1.dev1",
      "1!0.1",
      "1!1.0",
  };
  size_t n = sizeof(order) / sizeof(order[0]);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) {
      INFO(order[i], " vs ", order[j]);
      auto a = Version::parse(order[i]), b = Version::parse(order[j]);
      CHECK(((a <=> b) == 0) == (i == j));
      CHECK(((a <=> b) < 0) == (i < j));
    }
}

TEST_CASE("pep440: equality pads the release and ignores spelling") {
  CHECK(Version::parse("1.0") == Version::parse("1.0.0"));
  CHECK(Version::parse("1") == Version::parse("1.0.0.0"));
  CHECK(Version::parse("1.0a") == Version::parse("1.0.alpha.0"));
  CHECK(Version::parse("1.0+AbC") == Version::parse("1.0+abc"));
  CHECK(Version::parse("1.0+1") != Version::parse("1.0+01.0"));
  CHECK(Version::parse("1.0+a") < Version::parse("1.0+1"));    // strings sort before numbers
  CHECK(Version::parse("1.0+a") < Version::parse("1.0+a.0"));  // shorter local sorts first
  CHECK(Version::parse("1.0.dev1") < Version::parse("1.0a1.dev1"));
  CHECK(Version::parse("1.0.post1.dev1") < Version::parse("1.0.post1"));
  CHECK(Version::parse("1.0a1.post1") < Version::parse("1.0a2"));
}

TEST_CASE("pep440: compatible release ~= (PEP examples)") {
  // ~= 2.2 is >= 2.2, == 2.*
  CHECK(in("2.2", "~=2.2"));
  CHECK(in("2.9", "~=2.2"));
  CHECK(in("2.2.post3", "~=2.2"));
  CHECK_FALSE(in("3.0", "~=2.2"));
  CHECK_FALSE(in("2.1", "~=2.2"));
  // ~= 1.4.5 is >= 1.4.5, == 1.4.*
  CHECK(in("1.4.5", "~= 1.4.5"));
  CHECK(in("1.4.99", "~= 1.4.5"));
  CHECK_FALSE(in("1.5.0", "~= 1.4.5"));
  // ~= 2.2.post3 is >= 2.2.post3, == 2.*
  CHECK(in("2.3", "~=2.2.post3"));
  CHECK_FALSE(in("2.2", "~=2.2.post3"));
  // ~= 1.4.5a4 is >= 1.4.5a4, == 1.4.*
  CHECK(in("1.4.5a4", "~=1.4.5a4"));
  CHECK(in("1.4.7", "~=1.4.5a4"));
  CHECK_FALSE(in("1.5", "~=1.4.5a4"));
  // trailing zeros change the prefix
  CHECK(in("2.2.9", "~=2.2.0"));
  CHECK_FALSE(in("2.3", "~=2.2.0"));
  CHECK(in("1.4.5.3", "~=1.4.5.0"));
  CHECK_FALSE(in("1.4.6", "~=1.4.5.0"));
  CHECK(in("1!2.5", "~=1!2.2"));
  CHECK_FALSE(in("2.5", "~=1!2.2"));
  CHECK_THROWS_AS(SpecifierSet::parse("~=1"), pb::Error);
  CHECK_THROWS_AS(SpecifierSet::parse("~=1.0.*"), pb::Error);
  CHECK_THROWS_AS(SpecifierSet::parse("~=1.0+local"), pb::Error);
}

TEST_CASE("pep440: version matching == and wildcards") {
  CHECK(in("1.1", "==1.1"));
  CHECK(in("1.1.0", "==1.1"));
  CHECK_FALSE(in("1.1.post1", "==1.1"));
  CHECK(in("1.1.post1", "==1.1.*"));
  CHECK(in("1.1", "== 1.1.*"));
  CHECK(in("1.1.0.5", "==1.1.*"));
  CHECK(in("1", "==1.0.*"));
  CHECK_FALSE(in("1.10", "==1.1.*"));
  CHECK(in("1.1a1", "==1.1.*", true));
  CHECK_FALSE(in("1.1a1", "==1.1.*"));  // pre-release rule
  CHECK(in("1.1.dev1", "==1.1.*", true));
  CHECK(in("1.1+local", "==1.1.*"));
  CHECK_FALSE(in("1!1.1", "==1.1.*"));
  // A public specifier ignores the candidate's local label; a local one does not.
  CHECK(in("1.1+ubuntu1", "==1.1"));
  CHECK(in("1.1+ubuntu1", "==1.1+ubuntu1"));
  CHECK_FALSE(in("1.1+ubuntu2", "==1.1+ubuntu1"));
  CHECK_FALSE(in("1.1", "==1.1+ubuntu1"));
  CHECK_THROWS_AS(SpecifierSet::parse("==1.0a1.*"), pb::Error);
  CHECK_THROWS_AS(SpecifierSet::parse("==1.0+x.*"), pb::Error);
  CHECK_THROWS_AS(SpecifierSet::parse(">=1.0.*"), pb::Error);
}

TEST_CASE("pep440: version exclusion !=") {
  CHECK_FALSE(in("1.1", "!=1.1"));
  CHECK(in("1.1.post1", "!=1.1"));
  CHECK_FALSE(in("1.1.post1", "!=1.1.*"));
  CHECK(in("1.2", "!=1.1.*"));
  CHECK_FALSE(in("1.1+local", "!=1.1"));
  CHECK(in("1.1+other", "!=1.1+local"));
}

TEST_CASE("pep440: inclusive ordered comparison") {
  CHECK(in("1.0", "<=1.0"));
  CHECK(in("1.0+local", "<=1.0"));
  CHECK(in("1.0+local", ">=1.0"));
  CHECK(in("0.9", "<=1.0"));
  CHECK_FALSE(in("1.0.post1", "<=1.0"));
  CHECK(in("2.0", ">=1.0"));
  CHECK_FALSE(in("0.9", ">=1.0"));
  CHECK_THROWS_AS(SpecifierSet::parse(">=1.0+local"), pb::Error);
}

TEST_CASE("pep440: exclusive ordered comparison (PEP examples)") {
  // >V must not allow a post-release or a local version of V unless V is a post-release.
  CHECK(in("1.7.1", ">1.7"));
  CHECK_FALSE(in("1.7.0.post1", ">1.7"));
  CHECK_FALSE(in("1.7", ">1.7"));
  CHECK_FALSE(in("1.7+local", ">1.7"));
  CHECK(in("1.7.1", ">1.7.post2"));
  CHECK(in("1.7.0.post3", ">1.7.post2"));
  CHECK_FALSE(in("1.7.0", ">1.7.post2"));
  // <V must not allow a pre-release of V unless V is a pre-release.
  CHECK(in("3.0.dev0", "<3.1", true));
  CHECK_FALSE(in("3.1.dev0", "<3.1", true));
  CHECK_FALSE(in("3.1rc1", "<3.1", true));
  CHECK(in("3.1a1", "<3.1rc1"));
  CHECK(in("3.1.dev0", "<3.1rc1"));
  CHECK_FALSE(in("3.1", "<3.1"));
  CHECK(in("3.0.9", "<3.1"));
  CHECK_FALSE(in("1.0+local", "<1.0"));
}

TEST_CASE("pep440: arbitrary equality ===") {
  auto set = SpecifierSet::parse("===foobar");
  CHECK(set.contains(std::string_view("foobar")));
  CHECK(set.contains(std::string_view("FooBar")));
  CHECK_FALSE(set.contains(std::string_view("foobaz")));
  CHECK(in("1.0", "===1.0"));
  CHECK_FALSE(in("1.0.0", "===1.0"));
  CHECK_THROWS_AS(SpecifierSet::parse("=== "), pb::Error);
}

TEST_CASE("pep440: pre-release rules of a specifier set") {
  CHECK_FALSE(in("1.0a1", ">=0.9"));
  CHECK(in("1.0a1", ">=0.9", true));
  CHECK(in("1.0a1", ">=1.0a1"));  // the specifier names a pre-release
  CHECK(in("1.1a1", ">=1.0a1,<2"));
  CHECK_FALSE(in("1.0a1", ">=0.9,!=1.0a2"));  // != does not admit pre-releases
  CHECK(in("1.0.post1", ">=0.9"));            // post-releases are not pre-releases
  CHECK(in("1.0", ""));
  CHECK_FALSE(in("1.0a1", ""));
  CHECK(in("1.0a1", "", true));
  CHECK_FALSE(SpecifierSet::parse("").contains(std::string_view("not a version")));
}

TEST_CASE("pep440: specifier set parsing and printing") {
  auto set = SpecifierSet::parse(" >= 1.0 , < 2.0,!=1.5.*,");
  REQUIRE(set.specs.size() == 3);
  CHECK(set.str() == ">=1.0,<2.0,!=1.5.*");
  CHECK(set.specs[2].wildcard);
  CHECK(set.contains(std::string_view("1.4")));
  CHECK_FALSE(set.contains(std::string_view("1.5.2")));
  CHECK_FALSE(set.contains(std::string_view("2.0")));
  CHECK(SpecifierSet::parse(">=v1.0").contains(std::string_view("1.0")));
  CHECK_THROWS_WITH_AS(SpecifierSet::parse(">=1.0,foo"), doctest::Contains("'foo'"), pb::Error);
  CHECK_THROWS_AS(SpecifierSet::parse("=>1.0"), pb::Error);
  CHECK_THROWS_AS(SpecifierSet::parse("==1.0 .*"), pb::Error);
  CHECK_THROWS_AS(SpecifierSet::parse(">="), pb::Error);
}
