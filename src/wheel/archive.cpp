#include <archive.h>
#include <archive_entry.h>

#include <memory>

#include "wheel/wheel.hpp"

namespace pb::wheel {

std::optional<Metadata> read_wheel_metadata(const std::filesystem::path& wheel_file) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), archive_read_free);
  archive_read_support_format_zip(a.get());
  if (archive_read_open_filename(a.get(), wheel_file.c_str(), 1 << 16) != ARCHIVE_OK) return std::nullopt;
  archive_entry* entry = nullptr;
  while (archive_read_next_header(a.get(), &entry) == ARCHIVE_OK) {
    std::string_view path = archive_entry_pathname(entry) ? archive_entry_pathname(entry) : "";
    auto slash = path.find('/');
    // Only the top-level <name>-<version>.dist-info/METADATA counts.
    if (slash == std::string_view::npos || path.substr(slash) != "/METADATA" ||
        !path.substr(0, slash).ends_with(".dist-info"))
      continue;
    std::string text;
    char buf[1 << 15];
    la_ssize_t n;
    while ((n = archive_read_data(a.get(), buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    if (n < 0) return std::nullopt;
    return parse_metadata(text);
  }
  return std::nullopt;
}

}  // namespace pb::wheel
