// Counts in words, for summaries and errors.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace pb {

// "1 file", "2 files".
inline std::string plural(size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

}  // namespace pb
