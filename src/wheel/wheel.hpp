// Wheel file names, compatibility tags, METADATA and RECORD.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pb::wheel {

struct Tag {
  std::string python, abi, platform;
  std::string str() const { return python + "-" + abi + "-" + platform; }
  bool operator==(const Tag&) const = default;
};

struct WheelName {
  std::string distribution;  // as in the file name (underscores)
  std::string version;
  std::optional<std::pair<uint64_t, std::string>> build;  // build tag: number, rest
  std::vector<Tag> tags;                                  // compressed tag sets expanded (py2.py3-none-any -> 2 tags)

  // Throws pb::Error (Exit::usage) when `filename` is not a wheel file name.
  static WheelName parse(std::string_view filename);
  static std::optional<WheelName> try_parse(std::string_view filename);
};

// The file name at the end of a URL: last path segment, without query or fragment,
// percent-decoded ("…/torch-2.11.0%2Bcu128-cp312-….whl" -> "torch-2.11.0+cu128-cp312-….whl").
std::string filename_from_url(std::string_view url);

// Core metadata (METADATA / PKG-INFO), the fields we use.
struct Metadata {
  std::string name, version, requires_python;
  std::vector<std::string> requires_dist;
  std::vector<std::string> provides_extra;
};
Metadata parse_metadata(std::string_view text);

// The METADATA of a wheel file on disk (read from its *.dist-info/ without unpacking the rest);
// nullopt when the file is not a readable wheel or holds no METADATA.
std::optional<Metadata> read_wheel_metadata(const std::filesystem::path& wheel_file);

// One RECORD row. hash is "sha256=<urlsafe-b64>" split into algorithm and value; both may be empty.
struct RecordEntry {
  std::string path;
  std::string hash_algorithm, hash_value;
  std::optional<uint64_t> size;
};
// Throws pb::Error (Exit::problems) on a malformed row, naming its line.
std::vector<RecordEntry> parse_record(std::string_view text);

}  // namespace pb::wheel
