// Record validation: what makes one record of a serial job acceptable before
// any work is spent on it — an object, the template's required fields
// present, recipients well-formed for their channel. A problem is reported as
// text naming the field, and becomes the TRNS's error at 241; the job goes on.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace al {

/// The channels a recipient may use.
[[nodiscard]] bool is_known_channel(const std::string& channel);

/// "" if `recipient` ({channel, address, role}) is deliverable, else why not.
[[nodiscard]] std::string recipient_problem(const nlohmann::json& recipient);

/// "" if the record is valid, else the first problem, naming the field
/// ("missing required field 'name'", "recipients[1]: unknown channel 'fax'").
[[nodiscard]] std::string record_problem(const nlohmann::json& record, const std::vector<std::string>& required_fields);

}  // namespace al
