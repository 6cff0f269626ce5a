// Choosing one file per selected package: a lock wheel, the Pyodide build, or the local source.
#pragma once
#include <map>
#include <set>
#include <string>

#include "plan/internal.hpp"

namespace pb::plan::detail {

class Chooser {
 public:
  Chooser(const project::Project& project, const lock::Lock& lock, const target::Target& target, const Context& context,
          Plan& plan, const Selected& selected);

  void choose(const lock::Package& package);
  // An unvendored stdlib module (Pyodide package_type "cpython_module") requested by name.
  void stdlib(const std::string& name);
  // Pyodide builds need their own Pyodide dependencies (shared libraries, ...).
  void add_pyodide_dependencies();

  bool allow_substitutes = false;  // Selection::allow_substitutes

 private:
  const lock::Artifact* best_wheel(const lock::Package& p) const;
  void use_wheel(const lock::Package& p, const lock::Artifact& wheel);
  void use_source(const lock::Package& p);
  void use_pyodide(const target::PyodidePackage& pp, const std::string& name, const std::string& note);
  void no_wheel(const lock::Package& p);
  std::string offers(const lock::Package& p) const;
  std::string target_label() const;
  std::string absolute(const std::string& relative_to_lock) const;
  // Requirements a dependent places on packages, when known.
  std::optional<std::vector<std::string>> requirements_of(const lock::Package& dependent) const;

  const project::Project& project_;
  const lock::Lock& lock_;
  const target::Target& target_;
  const Context& context_;
  Plan& plan_;
  const Selected& selected_;
  std::map<std::string, const lock::Package*> chosen_;  // selected lock packages by name
  std::set<std::string> item_names_;
  mutable MarkerCache markers_;
};

}  // namespace pb::plan::detail
