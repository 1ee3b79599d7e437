#include "notifier/notifier_stage.hpp"

#include <algorithm>

#include "assemblyline/database.hpp"
#include "assemblyline/digest.hpp"
#include "assemblyline/http_client.hpp"

namespace al {

std::vector<Outcome> NotifierStage::work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) {
  std::vector<std::int64_t> ids;
  for (const auto& item : owned) ids.push_back(item.id);
  // One notice per batch, one NOTIFY per statement: the payload lists them.
  exec_prepared_sql(
      tx, "notifier.notices",
      "SELECT pg_notify('al_batch_done', json_agg(json_build_object("
      "  'bch_id', b.bch_id, 'job_id', b.job_id, 'channel', b.channel, 'size', b.size,"
      "  'delivered', (SELECT count(*) FROM al.rcps r WHERE r.bch_id = b.bch_id AND r.post_status),"
      "  'failed', (SELECT count(*) FROM al.rcps r WHERE r.bch_id = b.bch_id AND r.rcpstatus IN (541, 641))))::text) "
      "FROM al.bchs b WHERE b.bch_id = ANY($1::bigint[])",
      array_literal(ids));
  ctx.log().debug("notified {} batches", ids.size());
  std::vector<Outcome> outcomes;
  for (const auto& item : owned) outcomes.push_back({item.id, item.attempt, true, ""});
  return outcomes;
}

void NotifierStage::idle(StageContext& ctx) {
  const auto& config = ctx.config();
  // Bounded: a few events per call, so the worker stays responsive to the bus.
  for (int round = 0; round < 10; ++round) {
    pqxx::work tx(ctx.db());
    auto events = tx.exec(
        "SELECT e.event_id, e.job_id, e.payload::text, e.delivery_id::text, e.attempts, coalesce(j.callback_url, '') "
        "FROM al.job_events e JOIN al.jobs j ON j.job_id = e.job_id "
        "WHERE e.delivered_at IS NULL AND e.next_attempt_at <= now() "
        "ORDER BY e.next_attempt_at, e.event_id LIMIT 1 FOR UPDATE OF e SKIP LOCKED");
    if (events.empty()) return;
    const auto& e = events[0];
    const auto event_id = e[0].as<std::int64_t>();
    const std::string job = "job " + e[1].as<std::string>();
    const std::string url = e[5].as<std::string>();
    if (url.empty()) {
      tx.exec_params("UPDATE al.job_events SET delivered_at = now(), last_error = 'no callback_url' WHERE event_id = $1",
                     event_id);
      tx.commit();
      continue;
    }
    const int attempts = e[4].as<int>() + 1;
    const std::string body = e[2].as<std::string>();
    // X-AL-Delivery is the same on every try: receivers deduplicate on it.
    std::vector<std::pair<std::string, std::string>> headers = {{"X-AL-Delivery", e[3].as<std::string>()},
                                                                {"X-AL-Event", "job_done"}};
    if (!config.webhook_secret.empty())
      headers.emplace_back("X-AL-Signature", "sha256=" + hmac_sha256_hex(config.webhook_secret, body));
    const HttpResult result = post_json(url, body, headers, config.webhook_timeout_s);
    if (result.ok) {
      tx.exec_params("UPDATE al.job_events SET delivered_at = now(), attempts = $2, last_error = NULL "
                     "WHERE event_id = $1",
                     event_id, attempts);
      ctx.log().info("{}: notify: webhook delivered to {} (status {})", job, url, result.status);
    } else if (attempts >= config.webhook_max_attempts) {
      tx.exec_params("UPDATE al.job_events SET attempts = $2::int, next_attempt_at = 'infinity', "
                     "last_error = 'gave up after ' || $2::int || ' attempts: ' || $3 WHERE event_id = $1",
                     event_id, attempts, result.error);
      ctx.log().error("{}: notify: webhook to {} failed {} times, giving up: {}; "
                      "fix the receiver, then reset al.job_events.next_attempt_at to retry",
                      job, url, attempts, result.error);
    } else {
      const int delay_s = std::min(1 << std::min(attempts, 12), 600);
      tx.exec_params("UPDATE al.job_events SET attempts = $2, last_error = $3, "
                     "next_attempt_at = now() + make_interval(secs => $4) WHERE event_id = $1",
                     event_id, attempts, result.error, delay_s);
      ctx.log().warn("{}: notify: webhook to {} failed ({}), will retry in {}s", job, url, result.error, delay_s);
    }
    tx.commit();
  }
}

}  // namespace al
