// Archiver: stores every publication of a batch under storage.archive_dir
// (<job>/<batch>/<doc number>.<ext>, written atomically) with a manifest of
// checksums, verifies each checksum against the presenter's, and fills the
// archive panel of every recipient (archived_at, doc_number, archive_status).
#pragma once

#include "assemblyline/stage.hpp"

namespace al {

class ArchiverStage : public Stage {
public:
  static constexpr const char* name = "archiver";

protected:
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;

private:
  Outcome archive_batch(StageContext& ctx, pqxx::work& tx, const WorkItem& batch);
};

}  // namespace al
