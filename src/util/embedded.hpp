// Files compiled into the binary (tools/embed.py).
#pragma once
#include <span>
#include <string_view>

namespace pb::embedded {

struct File {
  std::string_view name;
  std::string_view text;
};

// The JavaScript host: host.mjs, the modules it imports and its Python parts.
extern const std::span<const File> host_files;

}  // namespace pb::embedded
