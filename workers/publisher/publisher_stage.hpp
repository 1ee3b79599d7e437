// Publisher: delivers a batch. Print streams go to storage.spool_dir, files to
// storage.outbox_dir (both written atomically, so redoing them is harmless);
// e-mails go over SMTP, at most once per recipient: the intent is committed
// in al.deliveries before the server is spoken to and the outcome after, and
// an intent found without an outcome (a crash in between) becomes RCPS 641
// "outcome unknown" instead of a second copy. A 5xx reply fails that
// recipient; a 4xx reply or an unreachable server defers the whole batch
// with exponential backoff (not_before). smtp.rate_per_minute and
// smtp.max_connections hold for all publishers together (sql/014, sql/015).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

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
  /// What the SMTP server said about one message, until it is in the database.
  struct KnownOutcome {
    std::int64_t bch_id = 0;
    int attempt = 0;
    bool sent = false;
    std::string reply;
  };

  void publish_email(StageContext& ctx, const WorkItem& batch, const std::string& job_id);
  static void record_outcomes(pqxx::work& tx, const nlohmann::json& sent, const nlohmann::json& refused);
  static void wait_for_continuation(StageContext& ctx, const WorkItem& batch, double wait_s,
                                    const std::string& reason);
  SmtpClient& smtp(const Config& config);

  std::unique_ptr<SmtpClient> m_smtp;  // kept across batches (across one message with smtp.max_connections)
  std::map<std::int64_t, KnownOutcome> m_known;  // rcp_id → outcome not yet written
};

}  // namespace al
