// Assembler: renders each record's document — the job's pinned template
// version with the record's fields, Mustache — and stores the HTML with its
// SHA-256 in al.documents. A record that cannot be rendered fails alone (241).
#pragma once

#include "assemblyline/stage.hpp"

namespace al {

class AssemblerStage : public Stage {
public:
  static constexpr const char* name = "assembler";

protected:
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;
};

}  // namespace al
