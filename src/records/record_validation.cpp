// Record and recipient checks shared by the identifier and the assembler.
#include "assemblyline/record_validation.hpp"

#include <nlohmann/json.hpp>

#include "assemblyline/error.hpp"
#include "assemblyline/mime_message.hpp"
#include "assemblyline/safe_path.hpp"

namespace al {

bool is_known_channel(const std::string& channel) {
  return channel == "email" || channel == "print" || channel == "file";
}

namespace {

bool has_control_characters(const std::string& s, bool allow_newlines) {
  for (unsigned char c : s) {
    if (c == '\n' && allow_newlines) continue;
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

std::string recipient_problem(const nlohmann::json& recipient) {
  if (!recipient.is_object()) return "is not an object with channel and address";
  const auto channel_it = recipient.find("channel");
  if (channel_it == recipient.end() || !channel_it->is_string()) return "has no channel (email, print or file)";
  const std::string channel = channel_it->get<std::string>();
  if (!is_known_channel(channel)) return "unknown channel '" + channel + "' (use email, print or file)";
  const auto address_it = recipient.find("address");
  if (address_it == recipient.end() || !address_it->is_string() || address_it->get<std::string>().empty()) {
    return "has no address";
  }
  const std::string address = address_it->get<std::string>();
  if (auto role = recipient.find("role"); role != recipient.end() && !role->is_string()) {
    return "role must be a string";
  }
  if (channel == "email") {
    if (!is_valid_email(address)) return "invalid e-mail address '" + address + "'";
  } else if (channel == "file") {
    try {
      (void)safe_join("/outbox", address);
    } catch (const Error& e) {
      return std::string("file address refused: ") + e.what();
    }
  } else if (has_control_characters(address, true)) {
    return "postal address contains control characters";
  }
  return "";
}

std::string record_problem(const nlohmann::json& record, const std::vector<std::string>& required_fields) {
  if (!record.is_object()) return "the record is not a JSON object";
  for (const auto& field : required_fields) {
    const auto it = record.find(field);
    if (it == record.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty())) {
      return "missing required field '" + field + "'";
    }
  }
  if (const auto it = record.find("recipients"); it != record.end()) {
    if (!it->is_array()) return "recipients must be an array of {channel, address, role}";
    for (std::size_t i = 0; i < it->size(); ++i) {
      const std::string problem = recipient_problem((*it)[i]);
      if (!problem.empty()) return "recipients[" + std::to_string(i) + "]: " + problem;
    }
  }
  return "";
}

}  // namespace al
