#include "check/output.hpp"
#include "util/text.hpp"

#include <algorithm>
#include <cstdio>

namespace pb::check {

namespace {

std::string place(const Finding& f) {
  if (f.file.empty()) return "";
  return f.line > 0 ? f.file + ":" + std::to_string(f.line) + ": " : f.file + ": ";
}

struct Paint {
  bool on;
  std::string operator()(const char* code, const std::string& text) const {
    return on ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  }
};

const char* severity_colour(Severity s) {
  switch (s) {
    case Severity::error: return "1;31";
    case Severity::warning: return "1;33";
    case Severity::note: return "1;36";
  }
  return "0";
}

// Escapes of GitHub's workflow commands: data, and property values (which also escape ':' ',').
std::string escape_data(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '%') out += "%25";
    else if (c == '\r') out += "%0D";
    else if (c == '\n') out += "%0A";
    else out += c;
  }
  return out;
}

std::string escape_property(const std::string& s) {
  std::string out;
  for (char c : escape_data(s)) {
    if (c == ':') out += "%3A";
    else if (c == ',') out += "%2C";
    else out += c;
  }
  return out;
}

nlohmann::ordered_json opt(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

}  // namespace

std::string summary_line(const Report& r) {
  return plural(r.count(Severity::error), "error") + ", " + plural(r.count(Severity::warning), "warning") + " in " +
         plural(r.checks.size(), "check");
}

std::string render_human(const Report& r, const HumanOptions& o) {
  Paint paint{o.color};
  std::string out;
  if (o.quiet) {
    for (const auto& c : r.checks)
      for (const auto& f : c.findings)
        if (f.severity == Severity::error)
          out += paint(severity_colour(f.severity), "error") + "[" + f.code + "]: " + place(f) + f.message + "\n";
    return out;
  }
  out += paint("1", "pybundle check") + ": " + r.kind + " " + r.path +
         (r.target.empty() ? "" : ", target " + r.target) + "\n";
  size_t width = 0;
  for (const auto& c : r.checks) width = std::max(width, c.name.size());
  for (const auto& c : r.checks) {
    auto status = c.status();
    const char* colour = status == Status::pass   ? "32"
                         : status == Status::warn ? "33"
                         : status == Status::fail ? "1;31"
                                                  : "2";
    std::string word = status == Status::fail ? "FAIL" : to_string(status);
    out += "  " + paint(colour, word) + std::string(5 - word.size(), ' ') + c.name +
           std::string(width + 2 - c.name.size(), ' ') + (c.skipped ? "skipped: " : "") +
           (c.summary.empty() ? c.title : c.summary);
    if (o.verbose > 0) {
      char t[32];
      std::snprintf(t, sizeof t, " (%.2f s)", c.seconds);
      out += paint("2", t);
    }
    out += "\n";
    const size_t limit = o.verbose > 0 ? c.findings.size() : 20;
    size_t shown = 0;
    for (const auto& f : c.findings) {
      if (shown == limit) break;
      ++shown;
      out += "        " + paint(severity_colour(f.severity), to_string(f.severity)) + "[" + f.code + "]: " + place(f) +
             f.message + "\n";
      if (!f.fix.empty()) out += "          " + paint("2", "fix: " + f.fix) + "\n";
    }
    if (shown < c.findings.size())
      out += "        " +
             paint("2", "… and " + std::to_string(c.findings.size() - shown) + " more (--verbose shows all)") + "\n";
    if (o.verbose > 0 && !c.metrics.empty()) out += "        " + paint("2", c.metrics.dump()) + "\n";
  }
  auto exit = static_cast<int>(r.exit_code());
  out += (r.ok() ? paint("1;32", "ok") : paint("1;31", "failed")) + ": " + summary_line(r) +
         (exit ? " (exit " + std::to_string(exit) + ")" : "") + "\n";
  return out;
}

nlohmann::ordered_json to_json(const Report& r) {
  using json = nlohmann::ordered_json;
  json checks = json::array();
  for (const auto& c : r.checks) {
    json findings = json::array();
    for (const auto& f : c.findings)
      findings.push_back({{"severity", to_string(f.severity)},
                          {"code", f.code},
                          {"message", f.message},
                          {"file", opt(f.file)},
                          {"line", f.line > 0 ? json(f.line) : json(nullptr)},
                          {"fix", opt(f.fix)}});
    checks.push_back({{"name", c.name},
                      {"title", c.title},
                      {"status", to_string(c.status())},
                      {"summary", opt(c.summary)},
                      {"seconds", c.seconds},
                      {"metrics", c.metrics},
                      {"findings", std::move(findings)}});
  }
  return {{"schema", 1},
          {"tool", std::string("pybundle ") + PYBUNDLE_VERSION},
          {"kind", r.kind},
          {"path", r.path},
          {"target", opt(r.target)},
          {"ok", r.ok()},
          {"exit_code", static_cast<int>(r.exit_code())},
          {"counts",
           {{"error", r.count(Severity::error)},
            {"warning", r.count(Severity::warning)},
            {"note", r.count(Severity::note)}}},
          {"checks", std::move(checks)}};
}

std::string render_github(const Report& r) {
  std::string out;
  for (const auto& c : r.checks) {
    for (const auto& f : c.findings) {
      const char* cmd = f.severity == Severity::error     ? "error"
                        : f.severity == Severity::warning ? "warning"
                                                          : "notice";
      std::string props;
      if (!f.file.empty()) {
        props += "file=" + escape_property(f.file);
        if (f.line > 0) props += ",line=" + std::to_string(f.line);
        props += ",";
      }
      props += "title=" + escape_property("pybundle " + c.name + ": " + f.code);
      out += std::string("::") + cmd + " " + props +
             "::" + escape_data(f.message + (f.fix.empty() ? "" : " (fix: " + f.fix + ")")) + "\n";
    }
  }
  out +=
      "::notice title=pybundle check::" + escape_data(std::string(r.ok() ? "passed: " : "failed: ") + summary_line(r)) +
      "\n";
  return out;
}

}  // namespace pb::check
