// Distributor: creates the RCPS of each record from its `recipients`, one per
// (channel, address, role). An address opted out of its channel in
// al.contact_preferences is created at 388 with the reason; the others at
// 401, waiting for their batch. Set-based: one statement per message.
#pragma once

#include "assemblyline/stage.hpp"

namespace al {

class DistributorStage : public Stage {
public:
  static constexpr const char* name = "distributor";

protected:
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;
};

}  // namespace al
