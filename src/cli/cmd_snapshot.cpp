// pybundle snapshot BUNDLE: (re)make the memory snapshot of an existing bundle directory.
#include <iostream>

#include "cli/common.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"
#include "util/fs.hpp"
#include "util/json.hpp"

namespace pb::cli {

namespace {

struct SnapshotArgs {
  std::string bundle;
  std::vector<std::string> preimport;
  int level = 12;
  std::optional<uint32_t> hash_seed;
};

void make(const SnapshotArgs& a) {
  std::filesystem::path dir = a.bundle;
  auto manifest_file = dir / "bundle.json";
  nlohmann::ordered_json manifest;
  try {
    auto text = fs::read_file(manifest_file);
    if (json_too_deep(text)) throw Error(manifest_file.string() + ": " + kTooDeep, Exit::usage);
    manifest = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(manifest_file.string() + ": " + e.what(), Exit::usage);
  }
  // Only strings count: a hand-edited manifest gets the error below, not a JSON type exception.
  std::string version = json_string(json_at(manifest, "target"), "pyodide");
  std::string entry = json_string(json_at(manifest, "entry"), "module");
  if (version.empty() || entry.empty())
    throw Error(manifest_file.string() + ": needs target.pyodide and entry.module", Exit::usage);

  runtime::find_node();  // before installing a runtime that could not run anyway
  snapshot::MakeOptions o;
  o.cache_dir = global().cache();
  o.runtime_dir = runtime::ensure_runtime(version, o.cache_dir);
  o.bundle_dir = dir;
  o.entry_module = entry;
  // The build's preimport list and hash seed (bundle.json snapshot.recipe) unless the options replace them.
  o.preimport = a.preimport;
  const nlohmann::json recipe = json_at(json_at(manifest, "snapshot"), "recipe");  // a copy: manifest is ordered
  if (a.preimport.empty() && recipe.is_object() && recipe.contains("preimport") && recipe["preimport"].is_array())
    for (const auto& m : recipe["preimport"])
      if (m.is_string()) o.preimport.push_back(m.get<std::string>());
  o.level = a.level;
  o.hash_seed = a.hash_seed;
  if (!o.hash_seed && recipe.is_object() && recipe.contains("hash_seed") && recipe["hash_seed"].is_number_unsigned() &&
      recipe["hash_seed"].get<uint64_t>() <= UINT32_MAX)
    o.hash_seed = recipe["hash_seed"].get<uint32_t>();
  info("making the snapshot: importing '" + entry + "' in Pyodide " + version);
  auto result = snapshot::make_snapshot(o);
  for (const auto& w : result.warnings) warning(w);
  auto facts = result.facts;
  facts["recipe"] = snapshot_recipe(entry, o.preimport, version, result.facts["hash_seed"].get<uint32_t>());
  manifest["snapshot"] = nlohmann::ordered_json::parse(facts.dump());
  fs::write_file_atomic(manifest_file, manifest.dump(2) + "\n");
  info("wrote " + (dir / "snapshot.bin.zst").string() + " (" + std::to_string(result.facts.value("size", 0) >> 10) +
       " KiB, heap " + std::to_string(result.facts.value("heap_size", 0) >> 20) + " MiB)");
}

}  // namespace

void register_snapshot(CLI::App& app) {
  auto a = std::make_shared<SnapshotArgs>();
  auto* cmd = app.add_subcommand("snapshot", "(Re)make the memory snapshot of a bundle directory");
  cmd->add_option("BUNDLE", a->bundle, "Bundle directory (holds bundle.json)")->required();
  cmd->add_option("--preimport", a->preimport,
                  "Extra module to import before the snapshot (repeatable; default: the build's, from bundle.json)");
  cmd->add_option("--level", a->level, "zstd compression level")->check(CLI::Range(1, 22));
  cmd->add_option(
         "--hash-seed", a->hash_seed,
         "PYTHONHASHSEED while importing (default: the build's, from bundle.json, else from the bundle digest)")
      ->check(CLI::Range(uint32_t{0}, uint32_t{4294967295u}));
  add_sandbox_flag(*cmd);
  cmd->callback([a] { make(*a); });
}

}  // namespace pb::cli
