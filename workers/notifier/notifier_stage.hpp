// Notifier: announces each published batch (NOTIFY al_batch_done with the
// batch's summary), and drains the job-event outbox: every job that reached
// 999 is POSTed to its callback_url with a delivery id, retried with
// exponential backoff, and recorded as delivered or given up.
#pragma once

#include "assemblyline/stage.hpp"

namespace al {

class NotifierStage : public Stage {
public:
  static constexpr const char* name = "notifier";

  void idle(StageContext& ctx) override;

protected:
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;
};

}  // namespace al
