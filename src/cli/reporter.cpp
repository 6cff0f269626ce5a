#include "cli/reporter.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "fetch/progress.hpp"

namespace pb::cli {

TerminalReporter::TerminalReporter()
    : progress_(fetch::make_reporter(
          fetch::choose_progress_style(global().quiet, global().format == Format::json, ::isatty(2)), stderr)) {}

void TerminalReporter::info(std::string_view line) {
  cli::info(line);
}

void TerminalReporter::warning(std::string_view line) {
  cli::warning(line);
}

bool TerminalReporter::details() const {
  return global().verbose > 0;
}

void TerminalReporter::detail(std::string_view line) {
  if (details()) cli::info(line);
}

void TerminalReporter::phase(std::string_view name, double seconds) {
  if (details()) cli::info(fmt::format("{}: {:.2f}s", name, seconds));
}

void TerminalReporter::fetch(const fetch::Event& event) {
  if (progress_) progress_(event);
}

}  // namespace pb::cli
