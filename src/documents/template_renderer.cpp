#include "assemblyline/template_renderer.hpp"

#include <charconv>
#include <kainjow/mustache.hpp>
#include <nlohmann/json.hpp>

#include "assemblyline/error.hpp"

namespace al {
namespace {

namespace mstch = kainjow::mustache;

std::string number_text(nlohmann::json const& value) {
  // is_number_integer() is true for unsigned values too: ask about those first.
  if (value.is_number_unsigned()) return std::to_string(value.get<std::uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  // Shortest round-trip form: 12.50 prints as 12.5 and 3.0 as 3, never 3.000000.
  char buf[64];
  auto const [end, ec] = std::to_chars(buf, buf + sizeof buf, value.get<double>());
  if (ec != std::errc{}) return value.dump();
  return std::string(buf, end);
}

mstch::data to_mustache(nlohmann::json const& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::object: {
      mstch::data obj{mstch::data::type::object};
      for (auto const& [key, item] : value.items()) obj.set(key, to_mustache(item));
      return obj;
    }
    case nlohmann::json::value_t::array: {
      mstch::data list{mstch::data::type::list};
      for (auto const& item : value) list.push_back(to_mustache(item));
      return list;
    }
    case nlohmann::json::value_t::string:
      return mstch::data{value.get_ref<std::string const&>()};
    case nlohmann::json::value_t::boolean:
      return mstch::data{value.get<bool>()};
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return mstch::data{number_text(value)};
    default:
      // null (and binary, which JSON input cannot produce) is falsy and prints nothing.
      return mstch::data{false};
  }
}

}  // namespace

std::string render_template(std::string const& mustache, nlohmann::json const& data) {
  mstch::mustache tmpl{mustache};
  if (!tmpl.is_valid()) throw Error{"template: " + tmpl.error_message()};
  auto const root = data.is_null() ? mstch::data{mstch::data::type::object} : to_mustache(data);
  std::string out = tmpl.render(root);
  // The renderer reports some errors (lambdas, partials) only while rendering.
  if (!tmpl.is_valid()) throw Error{"template: " + tmpl.error_message()};
  return out;
}

std::string template_syntax_error(std::string const& mustache) {
  mstch::mustache const tmpl{mustache};
  return tmpl.is_valid() ? std::string{} : tmpl.error_message();
}

}  // namespace al
