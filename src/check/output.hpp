// A check report as text for people, JSON for tools, or GitHub Actions annotations.
#pragma once
#include <string>

#include "check/report.hpp"
#include "nlohmann/json.hpp"

namespace pb::check {

struct HumanOptions {
  bool color = false;
  bool quiet = false;  // only the errors, one line each
  int verbose = 0;     // every finding (not the first 20 of a check), metrics and timings
};
std::string render_human(const Report& report, const HumanOptions& options);

// Schema 1, documented in man/pybundle.1 (CHECK OUTPUT).
nlohmann::ordered_json to_json(const Report& report);

// One workflow command per line: "::error file=F,line=L,title=pybundle CODE::message",
// warnings and notes as ::warning and ::notice, then one ::notice with the summary.
std::string render_github(const Report& report);

// "2 errors, 1 warning in 7 checks"
std::string summary_line(const Report& report);

}  // namespace pb::check
