// libFuzzer target: PEP 440 versions and specifier sets. Besides crashes it checks that
// normalization is stable and that ordering is consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pep440/version.hpp"
#include "util/error.hpp"

using namespace pb::pep440;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  // Input: "A\nB" — two versions (or a specifier set and a version).
  size_t nl = in.find('\n');
  std::string_view a = in.substr(0, nl), b = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);

  auto va = Version::try_parse(a);
  if (va) {
    std::string s = va->str();
    auto again = Version::try_parse(s);
    if (!again || again->str() != s || !(*again == *va)) std::abort();  // normalization not stable
    (void)va->public_version().str();
  }
  auto vb = Version::try_parse(b);
  if (va && vb) {
    auto ab = *va <=> *vb, ba = *vb <=> *va;
    if ((ab < 0) != (ba > 0) || (ab == 0) != (ba == 0)) std::abort();  // not antisymmetric
  }
  try {
    auto set = SpecifierSet::parse(a);
    auto printed = set.str();
    auto reparsed = SpecifierSet::parse(printed);
    if (reparsed.str() != printed) std::abort();
    if (vb) {
      bool x = set.contains(*vb, false), y = set.contains(*vb, true);
      if (x && !y) std::abort();  // allowing pre-releases can only widen the set
      if (reparsed.contains(*vb, true) != y) std::abort();
    } else {
      (void)set.contains(b);
    }
  } catch (const pb::Error&) {}
  return 0;
}
