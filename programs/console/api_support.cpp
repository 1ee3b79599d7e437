#include "api.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace al::console {

std::optional<std::string> param(const httplib::Request& req, const std::string& name) {
  if (!req.has_param(name.c_str())) return std::nullopt;
  std::string value = req.get_param_value(name.c_str());
  if (value.empty()) return std::nullopt;
  if (value.size() > 1000) throw BadRequest(name + ": longer than 1000 characters");
  if (value.find('\0') != std::string::npos) throw BadRequest(name + ": contains a NUL character");
  return value;
}

long long int_param(const httplib::Request& req, const std::string& name, long long min, long long max,
                    long long fallback) {
  const auto text = param(req, name);
  if (!text) return fallback;
  size_t used = 0;
  long long value = 0;
  try {
    value = std::stoll(*text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text->size())
    throw BadRequest(name + ": '" + *text + "' is not a whole number");
  if (value < min || value > max)
    throw BadRequest(name + ": " + *text + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return value;
}

std::string choice_param(const httplib::Request& req, const std::string& name, const std::vector<std::string>& choices,
                         const std::string& fallback) {
  const auto text = param(req, name);
  if (!text) return fallback;
  if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return *text;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  throw BadRequest(name + ": '" + *text + "' is not one of " + list);
}

long long path_id(const httplib::Request& req) {
  try {
    return std::stoll(req.matches[1].str());
  } catch (const std::exception&) {
    throw BadRequest("id: '" + req.matches[1].str() + "' is not a valid id");
  }
}

void send_json(httplib::Response& res, const std::string& body, int status) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body, "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
            status);
}

}  // namespace al::console
