// pybundle snapshot BUNDLE: (re)make the memory snapshot of an existing bundle directory.
#include <iostream>

#include "build/build.hpp"
#include "build/build.hpp"
#include "cli/common.hpp"
#include "runtime/runtime.hpp"
#include "snapshot/snapshot.hpp"
#include "util/error.hpp"

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
  auto manifest = bundle::read(dir);
  const std::string version = manifest.target.pyodide;
  const std::string entry = manifest.entry ? manifest.entry->module : "";
  if (version.empty() || entry.empty())
    throw Error((dir / bundle::kFile).string() + ": needs target.pyodide and entry.module", Exit::usage);

  runtime::find_node();  // before installing a runtime that could not run anyway
  snapshot::MakeOptions o;
  o.cache_dir = global().cache();
  o.runtime_dir = runtime::ensure_runtime(version, o.cache_dir);
  o.bundle_dir = dir;
  o.entry_module = entry;
  // The build's preimport list and hash seed (bundle.json snapshot.recipe) unless the options replace them.
  const auto* recipe = manifest.snapshot && manifest.snapshot->recipe ? &*manifest.snapshot->recipe : nullptr;
  o.preimport = a.preimport;
  if (a.preimport.empty() && recipe && recipe->preimport) o.preimport = *recipe->preimport;
  o.level = a.level;
  o.hash_seed = a.hash_seed;
  if (!o.hash_seed && recipe) o.hash_seed = recipe->hash_seed;
  info("making the snapshot: importing '" + entry + "' in Pyodide " + version);
  auto result = snapshot::make_snapshot(o);
  for (const auto& w : result.warnings) warning(w);
  manifest.snapshot = result.facts;
  manifest.snapshot->recipe = build::snapshot_recipe(entry, o.preimport, version, result.facts.hash_seed.value_or(0));
  manifest.write(dir);
  info("wrote " + (dir / "snapshot.bin.zst").string() + " (" + std::to_string(result.facts.size.value_or(0) >> 10) +
       " KiB, heap " + std::to_string(result.facts.heap_size.value_or(0) >> 20) + " MiB)");
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
         "PYTHONHASHSEED while importing (default: the build's, from bundle.json, else from python_modules/)")
      ->check(CLI::Range(uint32_t{0}, uint32_t{4294967295u}));
  add_sandbox_flag(*cmd);
  cmd->callback([a] { make(*a); });
}

}  // namespace pb::cli
