// Identifier: splits a job's input (its records, or a CSV/JSONL file) into
// TRNS, one per record in order. A record that fails validation becomes a
// TRNS at 241 whose error names the field; the others start at 211.
#pragma once

#include "assemblyline/stage.hpp"

namespace al {

class IdentifierStage : public Stage {
public:
  static constexpr const char* name = "identifier";

protected:
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;

private:
  Outcome identify(StageContext& ctx, pqxx::work& tx, const WorkItem& job);
};

}  // namespace al
