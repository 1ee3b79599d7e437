// Identifier: splits a job's input (its records, or a CSV/JSONL file) into
// TRNS, one per record in order. A record that fails validation becomes a
// TRNS at 241 whose error names the field; the others start at 211.
//
// Records are committed in chunks (COPY), each in its own transaction fenced
// by the job's attempt: while a big file is read the job stays at 131
// ("reading recipients") with n_records growing, and the assembler already
// works the first chunks (the TRNS barrier keeps distribution waiting until
// the job reaches 211). A retried identification resumes after the records
// committed before; memory stays bounded by one chunk for any job size.
#pragma once

#include "assemblyline/stage.hpp"

namespace al {

class IdentifierStage : public Stage {
public:
  static constexpr const char* name = "identifier";

  void process(StageContext& ctx, const std::vector<WorkItem>& acked) override;

protected:
  /// Unused: process() commits chunk by chunk instead of in one transaction.
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;

private:
  void identify(StageContext& ctx, const WorkItem& job);
};

}  // namespace al
