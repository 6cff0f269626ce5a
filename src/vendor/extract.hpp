// Wheel extraction in two passes: scan (names, types, sizes, RECORD; nothing written), then
// stream every entry to disk while hashing it.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "vendor/vendor.hpp"

namespace pb::vendor {

struct WheelEntry {
  std::string name;  // as in the archive
  bool dir = false;
  uint64_t declared = 0;  // uncompressed size from the archive's header
  std::string dest;       // path under python_modules/ ("" for directories and dropped entries)
  std::string dropped;    // Dropped::reason, when left out
  std::string algorithm;  // RECORD hash algorithm ("" for RECORD itself and signatures)
  std::string expected;   // RECORD hash value (urlsafe base64)
  std::optional<uint64_t> record_size;
};

struct WheelPlan {
  std::string wheel;         // file name, for messages
  std::string name, sha256;  // the package, and the sha256 the lock pins ("" if none)
  std::filesystem::path file;
  uint64_t archive_size = 0;
  std::vector<WheelEntry> entries;    // in archive order
  std::vector<std::string> problems;  // one line each: "<wheel>: entry '<name>': <why>"
};

// Pass 1: reads the archive's directory and RECORD, decides where each entry goes. `python`: the
// target's version ("3.13.2"), against which a wasm32 wheel's extension module names are checked.
WheelPlan scan_wheel(const Input& input, const Options& options, const std::string& python = "");

// Pass 2: streams every entry of a clean plan, writing kept files under `python_modules`
// (parents created as needed, never overwriting) and checking each against RECORD. Problems
// are appended to `problems`; the caller discards the directory when there are any.
void extract_wheel(const WheelPlan& plan, const std::filesystem::path& python_modules, const Options& options,
                   std::vector<std::string>& problems);

}  // namespace pb::vendor
