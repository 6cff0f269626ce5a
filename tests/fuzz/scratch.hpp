// For targets that read from a directory: a private temporary directory, and writing the input
// into it.
#pragma once
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

// Made on first use (in /dev/shm when there is one) and removed at exit.
inline const std::filesystem::path& scratch_dir(const char* target) {
  // Never destroyed: the exit handler that removes it runs after static destructors.
  static const std::filesystem::path* d = [target] {
    std::string tmpl =
        (std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp") + std::string("/fuzz-") + target + "-XXXXXX";
    if (!mkdtemp(tmpl.data())) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*d, ec);
    });
    return new std::filesystem::path(tmpl);
  }();
  return *d;
}

inline void write_input(const std::filesystem::path& file, const uint8_t* data, size_t size) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}
