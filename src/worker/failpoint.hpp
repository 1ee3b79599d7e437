// Fault injection for the fault suite (tests/faults): a worker can be told to
// die by SIGKILL whenever it has acknowledged a given item, which is how a
// poison item (one that crashes its worker every time) looks from outside.
// Off unless AL_FAILPOINT_KILL_ON_ITEM is set; never set it in production.
#pragma once

#include <string>
#include <vector>

#include "assemblyline/stage.hpp"

namespace al::failpoint {

/// Reads AL_FAILPOINT_KILL_ON_ITEM ("<stage>:<id>[,<id>…]") once; if `stage`
/// is named there and `acked` holds one of the ids, logs it and SIGKILLs the
/// process.
void kill_if_poisoned(const std::string& stage, const std::vector<WorkItem>& acked);

}  // namespace al::failpoint
