// Precompiled for every src/cli/ file (meson cpp_pch): the heavy headers each one includes.
// CLI11 alone is ~20k lines of inline code; parsing it once, not once per command, saves a
// quarter of a CLI file's compile. Add nothing here that changes often.
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
