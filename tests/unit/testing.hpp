// Helpers the unit tests share.
#pragma once
#include <filesystem>
#include <functional>
#include <string>

#include "util/error.hpp"
#include "util/fs.hpp"

namespace pb::testing {

// A fresh temporary directory, removed with everything in it at the end of the scope.
struct TempDir {
  std::filesystem::path path = pb::fs::make_temp_dir(std::filesystem::temp_directory_path() / "x", "pb-unit-test-");
  ~TempDir() { std::filesystem::remove_all(path); }
};

// The message of the pb::Error `f` throws; "" when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const pb::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace pb::testing
