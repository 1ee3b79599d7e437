// Mustache rendering of a template with one record's fields (kainjow::mustache,
// kept out of this header). `{{name}}` is HTML-escaped, `{{{name}}}` and
// `{{& name}}` are not; a missing field renders as nothing, as Mustache says.
// Syntax errors surface as al::Error carrying the library's message.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>

namespace al {

/// Renders `mustache` with `data` (objects, arrays, strings, numbers, bools,
/// null). Numbers print without trailing zeros (12.5, 3, 1e+21).
/// Throws al::Error (not retryable) for a template with a syntax error.
[[nodiscard]] std::string render_template(std::string const& mustache, nlohmann::json const& data);

/// The parser's message for `mustache`, or "" when the template is valid;
/// used to refuse a bad template when it is stored rather than when it runs.
[[nodiscard]] std::string template_syntax_error(std::string const& mustache);

}  // namespace al
