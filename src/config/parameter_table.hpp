// The declaration table behind config.hpp: one row per parameter, with the
// member it sets. Internal to src/config; the loader, the AL_* overrides and
// parameters() all walk this one table, so a key exists in all three or none.
#pragma once

#include <string>
#include <variant>
#include <vector>

#include "assemblyline/config.hpp"

namespace al::config_detail {

/// Where a parameter's value lives: a Config member, or a StageConfig member
/// of the stage named in Parameter::stage.
using Field = std::variant<std::string Config::*, int Config::*, bool Config::*, int StageConfig::*, bool StageConfig::*>;

enum class Type { string, integer, boolean };

struct Parameter {
  std::string key;  ///< "stages.publisher.workers"
  std::string env;  ///< "AL_STAGES_PUBLISHER_WORKERS"
  Type type = Type::string;
  long min = 0, max = 0;             ///< integers only, inclusive
  std::vector<std::string> choices;  ///< enumerated strings only
  std::string doc;
  Field field;
  std::string stage;  ///< for StageConfig fields
};

/// Every parameter, stage keys expanded for each stage, in documentation order.
[[nodiscard]] const std::vector<Parameter>& table();

/// "stages.publisher.workers" → "AL_STAGES_PUBLISHER_WORKERS".
[[nodiscard]] std::string env_name(const std::string& key);

[[nodiscard]] const char* type_name(Type type);

}  // namespace al::config_detail
