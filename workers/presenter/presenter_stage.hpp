// Presenter: builds the publications of a batch — one PDF print stream for a
// print batch (letters in the template's sort order, address in the window,
// each letter on a new sheet), one MIME message per e-mail recipient, one
// file per file recipient — and stores them in al.pubs with their SHA-256.
// A recipient whose publication cannot be built (a CR/LF in its subject)
// fails alone: RCPS 641 with the reason.
#pragma once

#include "assemblyline/stage.hpp"

namespace al {

class PresenterStage : public Stage {
public:
  static constexpr const char* name = "presenter";

protected:
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;

private:
  Outcome present_batch(StageContext& ctx, pqxx::work& tx, const WorkItem& batch);
};

}  // namespace al
