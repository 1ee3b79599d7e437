// alctl config defaults|check|show: the declaration table, a file's validity,
// and the values a process would run with.
#include <iostream>

#include "alctl.hpp"
#include "assemblyline/config.hpp"

namespace alctl {
namespace {

std::string bounds(const al::ParameterInfo& p) {
  if (!p.choices.empty()) {
    std::string out;
    for (const auto& c : p.choices) out += (out.empty() ? "" : "|") + c;
    return out;
  }
  if (p.type == "int") return std::to_string(p.min) + ".." + std::to_string(p.max);
  return "";
}

int config_defaults(Context& ctx) {
  Table table({"key", "type", "default", "bounds", "env", "doc"});
  for (const auto& p : al::parameters())
    table.add_row({Cell::of(p.key), Cell::of(p.type), Cell::of(p.default_value), Cell::of(bounds(p)),
                   Cell::of(p.env), Cell::of(p.doc)});
  table.print(std::cout, ctx.format());
  return 0;
}

int config_check(const std::string& path) {
  const al::Config config = al::load_config(path);  // throws the one-line reason
  for (const auto& warning : config.warnings) std::cerr << "alctl: warning: " << warning << '\n';
  std::cout << "ok\n";
  return 0;
}

int config_show(Context& ctx) {
  const al::Config& config = ctx.config();
  Table table({"key", "value", "is_default", "env"});
  for (const auto& p : al::parameters()) {
    const std::string value = al::parameter_value(config, p.key);
    table.add_row({Cell::of(p.key), Cell::of(value), Cell::of(value == p.default_value ? "yes" : "no"),
                   Cell::of(p.env)});
  }
  for (const auto& warning : config.warnings) std::cerr << "alctl: warning: " << warning << '\n';
  table.print(std::cout, ctx.format());
  return 0;
}

}  // namespace

void add_config_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("config", "configuration parameters");
  group->require_subcommand(1);
  on_run(group->add_subcommand("defaults", "every parameter: key, type, default, bounds, env name, doc"), ctx,
         [&ctx] { return config_defaults(ctx); });
  auto path = std::make_shared<std::string>();
  auto* check = group->add_subcommand("check", "load FILE (and AL_* variables); print ok or the first error");
  check->add_option("FILE", *path, "JSON config file")->required();
  on_run(check, ctx, [path] { return config_check(*path); });
  on_run(group->add_subcommand("show", "effective values from --config and AL_* variables"), ctx,
         [&ctx] { return config_show(ctx); });
}

}  // namespace alctl
