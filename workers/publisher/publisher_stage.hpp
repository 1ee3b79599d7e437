// Publisher: delivers a batch. Print streams go to storage.spool_dir, files to
// storage.outbox_dir (both written atomically, so redoing them is harmless);
// e-mails go over SMTP, at most once per recipient: the intent is committed
// in al.deliveries before the server is spoken to and the outcome after, and
// an intent found without an outcome (a crash in between) becomes RCPS 641
// "outcome unknown" instead of a second copy. A 5xx reply fails that
// recipient; a 4xx reply or an unreachable server defers the whole batch
// with exponential backoff (not_before).
#pragma once

#include <memory>

#include "assemblyline/smtp_client.hpp"
#include "assemblyline/stage.hpp"

namespace al {

class PublisherStage : public Stage {
public:
  static constexpr const char* name = "publisher";

  void process(StageContext& ctx, const std::vector<WorkItem>& acked) override;

protected:
  std::vector<Outcome> work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) override;

private:
  void publish_email(StageContext& ctx, const WorkItem& batch, const std::string& job_id);
  SmtpClient& smtp(const Config& config);

  std::unique_ptr<SmtpClient> m_smtp;  // kept across batches: the connection is reused
};

}  // namespace al
