// Parsing a TOML file's text, with toml++'s errors as pybundle's "file:line: message" errors.
#pragma once
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "util/error.hpp"

namespace pb {

inline toml::table parse_toml(std::string_view text, const std::string& shown) {
  try {
    return toml::parse(text, shown);
  } catch (const toml::parse_error& e) {
    throw file_error(shown, static_cast<long>(e.source().begin.line), std::string(e.description()));
  }
}

}  // namespace pb
