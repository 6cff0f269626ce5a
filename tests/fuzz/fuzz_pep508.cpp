// libFuzzer target: PEP 508 markers and requirements. Printing and parsing again must give
// the same text and the same truth value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "pep508/requirement.hpp"
#include "util/error.hpp"

using namespace pb::pep508;

namespace {
const Environment& env() {
  static const Environment e = {
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
  return e;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const ActiveExtras extras = {"a", "dev", "group-11-pydantic-ai-dev"};
  try {
    auto m = Marker::parse(in);
    bool none = m.evaluate(env()), some = m.evaluate(env(), extras);
    bool possible = m.possible(env());
    if ((none || some) && !possible) std::abort();  // a true marker must be possible
    auto printed = m.str();
    auto again = Marker::parse(printed);
    if (again.str() != printed) std::abort();
    if (again.evaluate(env()) != none || again.evaluate(env(), extras) != some) std::abort();
  } catch (const pb::Error&) {}
  try {
    auto r = Requirement::parse(in);
    auto printed = r.str();
    auto again = Requirement::parse(printed);
    if (again.str() != printed) std::abort();
    if (again.marker.evaluate(env(), extras) != r.marker.evaluate(env(), extras)) std::abort();
  } catch (const pb::Error&) {}
  return 0;
}
