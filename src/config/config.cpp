// The configuration loader: defaults from the member initialisers, then the
// JSON file, then AL_* environment overrides, every value checked against the
// declaration table (parameters.cpp) so a typo stops the process at start.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "assemblyline/config.hpp"
#include "assemblyline/error.hpp"
#include "config/parameter_table.hpp"

extern char** environ;

namespace al {
namespace {

using config_detail::Parameter;
using config_detail::Type;
using json = nlohmann::json;

template <typename... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <typename... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

const Parameter* find_parameter(const std::string& key) {
  for (const auto& p : config_detail::table())
    if (p.key == key) return &p;
  return nullptr;
}

// True when `path` names a section holding parameters ("stages", "stages.publisher").
bool is_section(const std::string& path) {
  const std::string prefix = path + ".";
  return std::any_of(config_detail::table().begin(), config_detail::table().end(),
                     [&](const Parameter& p) { return p.key.compare(0, prefix.size(), prefix) == 0; });
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

std::string shorten(std::string text) {
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text;
}

std::string render(const Config& config, const Parameter& p) {
  return std::visit(Overloaded{
                        [&](std::string Config::*f) { return config.*f; },
                        [&](int Config::*f) { return std::to_string(config.*f); },
                        [&](int StageConfig::*f) { return std::to_string(config.stage(p.stage).*f); },
                        [&](bool Config::*f) { return std::string(config.*f ? "true" : "false"); },
                        [&](bool StageConfig::*f) { return std::string(config.stage(p.stage).*f ? "true" : "false"); },
                    },
                    p.field);
}

// `where` says where the value came from: " (in FILE)" or " (from AL_X)".
void set_integer(Config& config, const Parameter& p, long value, const std::string& shown, const std::string& where) {
  if (value < p.min || value > p.max)
    throw Error("config: " + p.key + ": " + shown + " is out of range [" + std::to_string(p.min) + ", " +
                std::to_string(p.max) + "]" + where);
  std::visit(Overloaded{
                 [&](int Config::*f) { config.*f = static_cast<int>(value); },
                 [&](int StageConfig::*f) { config.stages.at(p.stage).*f = static_cast<int>(value); },
                 [](auto) {},
             },
             p.field);
}

void set_boolean(Config& config, const Parameter& p, bool value) {
  std::visit(Overloaded{
                 [&](bool Config::*f) { config.*f = value; },
                 [&](bool StageConfig::*f) { config.stages.at(p.stage).*f = value; },
                 [](auto) {},
             },
             p.field);
}

void set_string(Config& config, const Parameter& p, const std::string& value, const std::string& where) {
  if (!p.choices.empty() && std::find(p.choices.begin(), p.choices.end(), value) == p.choices.end())
    throw Error("config: " + p.key + ": \"" + shorten(value) + "\" is not one of " + join(p.choices, ", ") + where);
  std::visit(Overloaded{
                 [&](std::string Config::*f) { config.*f = value; },
                 [](auto) {},
             },
             p.field);
}

void set_from_json(Config& config, const Parameter& p, const json& value, const std::string& where) {
  const auto wrong_type = [&] {
    return Error("config: " + p.key + ": expected " + config_detail::type_name(p.type) + ", got " +
                 value.type_name() + " " + shorten(value.dump()) + where);
  };
  switch (p.type) {
    case Type::string:
      if (!value.is_string()) throw wrong_type();
      set_string(config, p, value.get<std::string>(), where);
      break;
    case Type::integer:
      if (!value.is_number_integer()) throw wrong_type();
      if (value.is_number_unsigned() && value.get<unsigned long long>() > static_cast<unsigned long long>(LONG_MAX))
        set_integer(config, p, LONG_MAX, value.dump(), where);
      else
        set_integer(config, p, value.get<long>(), value.dump(), where);
      break;
    case Type::boolean:
      if (!value.is_boolean()) throw wrong_type();
      set_boolean(config, p, value.get<bool>());
      break;
  }
}

void set_from_text(Config& config, const Parameter& p, const std::string& text) {
  const std::string where = " (from " + p.env + ")";
  switch (p.type) {
    case Type::string:
      set_string(config, p, text, where);
      break;
    case Type::integer: {
      long value = 0;
      const char* end = text.data() + text.size();
      const auto [ptr, ec] = std::from_chars(text.data(), end, value);
      if (ec == std::errc::result_out_of_range) {
        set_integer(config, p, text[0] == '-' ? LONG_MIN : LONG_MAX, text, where);
      } else if (text.empty() || ec != std::errc() || ptr != end) {
        throw Error("config: " + p.key + ": expected int, got \"" + shorten(text) + "\"" + where);
      }
      set_integer(config, p, value, text, where);
      break;
    }
    case Type::boolean: {
      std::string lower = text;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (lower == "true" || lower == "1" || lower == "yes" || lower == "on")
        set_boolean(config, p, true);
      else if (lower == "false" || lower == "0" || lower == "no" || lower == "off")
        set_boolean(config, p, false);
      else
        throw Error("config: " + p.key + ": expected bool (true|false|1|0|yes|no|on|off), got \"" + shorten(text) +
                    "\"" + where);
      break;
    }
  }
}

// Walks one JSON object; `path` is the dotted path of the object ("" for the root).
void apply_object(Config& config, const json& object, const std::string& path, const std::string& where) {
  for (const auto& [name, value] : object.items()) {
    if (!name.empty() && name[0] == '_') continue;  // "_comment" and the like: notes for humans
    const std::string key = path.empty() ? name : path + "." + name;
    if (const Parameter* p = find_parameter(key)) {
      set_from_json(config, *p, value, where);
    } else if (is_section(key)) {
      if (!value.is_object())
        throw Error("config: " + key + ": expected an object (section), got " + value.type_name() + " " +
                    shorten(value.dump()) + where);
      apply_object(config, value, key, where);
    } else {
      throw Error("config: unknown key '" + key + "'" + where);
    }
  }
}

void apply_file(Config& config, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("config: cannot read " + path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  json document;
  try {
    document = json::parse(text.str());
  } catch (const json::parse_error& e) {
    // nlohmann prefixes "[json.exception.parse_error.101] "; the rest says where and what.
    std::string what = e.what();
    if (const auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
    throw Error("config: " + path + ": " + what);
  }
  if (!document.is_object())
    throw Error("config: " + path + ": expected a JSON object at the top, got " + document.type_name());
  apply_object(config, document, "", " (in " + path + ")");
}

void apply_environment(Config& config, const std::map<std::string, std::string>& env) {
  std::set<std::string> known;
  for (const auto& p : config_detail::table()) {
    known.insert(p.env);
    if (const auto it = env.find(p.env); it != env.end()) set_from_text(config, p, it->second);
  }
  for (const auto& [name, value] : env) {
    const bool not_a_parameter = name.rfind("AL_TEST_", 0) == 0 || name.rfind("AL_FAILPOINT_", 0) == 0;
    if (name.rfind("AL_", 0) != 0 || not_a_parameter || known.count(name) != 0) continue;
    config.warnings.push_back("config: ignoring environment variable " + name + ": no parameter has that name");
  }
}

void check_consistency(const Config& config) {
  if (config.bus_peer_dead_ms <= config.bus_heartbeat_ms)
    throw Error("config: bus.peer_dead_ms (" + std::to_string(config.bus_peer_dead_ms) +
                ") must be greater than bus.heartbeat_ms (" + std::to_string(config.bus_heartbeat_ms) + ")");
  // Each event stream holds an HTTP thread for as long as the page is open.
  if (config.console_max_event_streams >= config.console_threads)
    throw Error("config: console.max_event_streams (" + std::to_string(config.console_max_event_streams) +
                ") must be below console.threads (" + std::to_string(config.console_threads) +
                "), or the streams could take every thread");
  if (config.console_tls_cert.empty() != config.console_tls_key.empty())
    throw Error("config: console.tls_cert and console.tls_key go together; set both or neither");
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text = *entry;
    if (text.rfind("AL_", 0) != 0) continue;
    const auto eq = text.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(text.substr(0, eq), text.substr(eq + 1));
  }
  return env;
}

}  // namespace

const StageConfig& Config::stage(const std::string& name) const {
  const auto it = stages.find(name);
  if (it == stages.end()) throw Error("config: unknown stage '" + name + "' (stages: " + join(stage_names(), ", ") + ")");
  return it->second;
}

const std::vector<ParameterInfo>& parameters() {
  static const std::vector<ParameterInfo> infos = [] {
    const Config defaults;
    std::vector<ParameterInfo> out;
    for (const auto& p : config_detail::table()) {
      ParameterInfo info;
      info.key = p.key;
      info.type = config_detail::type_name(p.type);
      info.default_value = render(defaults, p);
      info.doc = p.doc;
      info.min = p.min;
      info.max = p.max;
      info.env = p.env;
      info.choices = p.choices;
      out.push_back(std::move(info));
    }
    return out;
  }();
  return infos;
}

std::string parameter_value(const Config& config, const std::string& key) {
  const Parameter* p = find_parameter(key);
  if (p == nullptr) throw Error("config: unknown key '" + key + "'");
  return render(config, *p);
}

Config load_config(const std::string& path) { return load_config(path, process_environment()); }

Config load_config(const std::string& path, const std::map<std::string, std::string>& env) {
  Config config;
  if (!path.empty()) apply_file(config, path);
  apply_environment(config, env);
  check_consistency(config);
  return config;
}

}  // namespace al
