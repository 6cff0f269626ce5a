// Precompiled for every src/cli/ file (meson cpp_pch): the heavy headers most of them include.
// Not CLI11: only flags.cpp includes it, and a precompiled CLI11 would still cost every file the
// code of the validator objects its header defines (~5 s of CPU per file, release build).
// Add nothing here that changes often.
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
