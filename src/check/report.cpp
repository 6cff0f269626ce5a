#include "check/report.hpp"

#include <filesystem>

namespace pb::check {

std::string to_string(Severity s) {
  switch (s) {
    case Severity::error: return "error";
    case Severity::warning: return "warning";
    case Severity::note: return "note";
  }
  return "error";
}

std::string to_string(Status s) {
  switch (s) {
    case Status::pass: return "pass";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
    case Status::skip: return "skip";
  }
  return "fail";
}

namespace {

// A message prefix names a file when it is one on disk or looks like one of ours; this keeps
// "package 'foo': ..." or "https://..." from being taken for a file name.
bool looks_like_file(const std::string& s) {
  if (s.empty() || s.find("://") != std::string::npos || s.find(' ') != std::string::npos) return false;
  std::error_code ec;
  if (std::filesystem::exists(s, ec)) return true;
  auto name = std::filesystem::path(s).filename().string();
  return name == "pyproject.toml" || name == "uv.lock" || name == "bundle.json" || name.ends_with(".toml") ||
         name.ends_with(".py") || name.ends_with(".json");
}

}  // namespace

Finding from_error(const Error& error, std::string code) {
  Finding f;
  f.code = std::move(code);
  f.exit = error.code();
  std::string msg = error.what();
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);  // the first line; Errors are split by callers
  f.message = msg;
  auto colon = msg.find(": ");
  if (colon == std::string::npos) return f;
  std::string head = msg.substr(0, colon);
  long line = 0;
  if (auto c = head.rfind(':'); c != std::string::npos && c + 1 < head.size()) {
    auto digits = head.substr(c + 1);
    if (digits.find_first_not_of("0123456789") == std::string::npos && digits.size() < 10) {
      line = std::stol(digits);
      head.resize(c);
    }
  }
  if (!looks_like_file(head)) return f;
  f.file = head;
  f.line = line;
  f.message = msg.substr(colon + 2);
  return f;
}

Status Check::status() const {
  if (skipped) return Status::skip;
  bool warn = false;
  for (const auto& f : findings) {
    if (f.severity == Severity::error) return Status::fail;
    warn = warn || f.severity == Severity::warning;
  }
  return warn ? Status::warn : Status::pass;
}

Check& Check::add(Finding finding) {
  findings.push_back(std::move(finding));
  return *this;
}

Check& Check::skip(std::string reason) {
  skipped = true;
  summary = std::move(reason);
  return *this;
}

size_t Report::count(Severity severity) const {
  size_t n = 0;
  for (const auto& c : checks)
    for (const auto& f : c.findings) n += f.severity == severity;
  return n;
}

Exit Report::exit_code() const {
  int worst = 0;
  for (const auto& c : checks)
    for (const auto& f : c.findings)
      if (f.severity == Severity::error) worst = std::max(worst, f.exit == Exit::ok ? 1 : static_cast<int>(f.exit));
  return static_cast<Exit>(worst);
}

Check* Report::find(std::string_view name) {
  for (auto& c : checks)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace pb::check
