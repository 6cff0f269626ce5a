// Internals shared by the plan stage's files.
#pragma once
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "pep508/requirement.hpp"
#include "plan/plan.hpp"

namespace pb::plan::detail {

// Markers parsed once per distinct text (a big lock repeats the same few hundred).
class MarkerCache {
 public:
  const pep508::Marker& get(const std::string& text);

 private:
  std::unordered_map<std::string, pep508::Marker> cache_;
};

// uv's encodings of conflict items as `extra` values (crates/uv-resolver universal markers).
std::string encode_project(const std::string& package);
std::string encode_extra(const std::string& package, const std::string& extra);
std::string encode_group(const std::string& package, const std::string& group);

// The outcome of walking the lock for a selection.
struct Selected {
  std::vector<std::string> roots;    // root package names
  std::vector<size_t> packages;      // indexes into lock.packages, in visiting order
  std::set<size_t> installed_roots;  // roots installed themselves (not --only-group)
  std::vector<Edge> edges;
  std::vector<Dropped> dropped;
  // Extras requested on each package along the way (for reading its Requires-Dist markers).
  std::map<std::string, std::set<std::string>> extras;
  std::vector<Problem> problems;  // an inconsistent lock (edge to nothing, ...)
};

// Throws pb::Error(s) with Exit::usage for selection errors.
Selected select_uv(const project::Project& project, const lock::Lock& lock, const pep508::Environment& env,
                   const Selection& selection, MarkerCache& markers);
// PEP 751: a package is selected when its marker holds with the chosen extras and groups active.
// With --only-group the project's own dependencies are left out: then only packages whose marker
// needs a chosen group, and those reached from the groups' requirements in pyproject.toml through
// the lock's `dependencies`, are selected.
Selected select_pylock(const project::Project& project, const lock::Lock& lock, const pep508::Environment& env,
                       const Selection& selection, MarkerCache& markers);

// Is `package` the project at the project directory itself (the app, never vendored as a package)?
bool is_project_root(const project::Project& project, const lock::Package& package);

}  // namespace pb::plan::detail
