#include "publisher/publisher_stage.hpp"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "assemblyline/atomic_file_set.hpp"
#include "assemblyline/database.hpp"
#include "assemblyline/mime_message.hpp"
#include "assemblyline/safe_path.hpp"
#include "publisher/smtp_connection_slot.hpp"

namespace al {

namespace {

// Intents are written for a few messages at a time: a crash can leave at
// most this many "outcome unknown", and each chunk costs two commits.
constexpr std::size_t chunk_messages = 20;

struct Mail {
  std::int64_t rcp_id;
  std::string address;
  std::string mime;
};

void set_actor(pqxx::work& tx, const StageContext& ctx) {
  tx.exec_params("SELECT set_config('al.actor', $1, true)", ctx.worker_name());
}

}  // namespace

SmtpClient& PublisherStage::smtp(const Config& config) {
  if (!m_smtp) {
    SmtpSettings settings;
    settings.url = config.smtp_url;
    settings.starttls = config.smtp_starttls;
    settings.username = config.smtp_username;
    settings.password = config.smtp_password;
    settings.ca_file = config.smtp_ca_file;
    settings.timeout_s = config.smtp_timeout_s;
    m_smtp = std::make_unique<SmtpClient>(settings);
  }
  return *m_smtp;
}

void PublisherStage::process(StageContext& ctx, const std::vector<WorkItem>& acked) {
  const Config& config = ctx.config();
  SmtpConnectionSlot slot(ctx.db(), config.smtp_url, config.smtp_max_connections);
  // With smtp.max_connections the connection lives as long as the slot: it
  // is closed before the slot goes back, also when a batch throws.
  struct CloseWithSlot {
    SmtpConnectionSlot& slot;
    std::unique_ptr<SmtpClient>& smtp;
    ~CloseWithSlot() {
      if (slot.limited()) smtp.reset();
      slot.give_back();
    }
  } close_with_slot{slot, m_smtp};

  for (const auto& batch : acked) {
    std::string channel, job_id;
    {
      pqxx::work tx(ctx.db());
      auto head = tx.exec_params("SELECT channel, job_id FROM al.bchs WHERE bch_id = $1", batch.id);
      if (head.empty()) continue;
      channel = head[0][0].as<std::string>();
      job_id = head[0][1].as<std::string>();
    }
    if (channel != "email") {
      Stage::process(ctx, {batch});  // spool and outbox: one transaction, see work()
    } else if (slot.take()) {
      publish_email(ctx, batch, job_id);
    } else {
      wait_for_continuation(ctx, batch, 1.0,
                            "smtp.max_connections (" + std::to_string(config.smtp_max_connections) +
                                ") are all open in other publishers");
    }
  }
}

// Print and file batches: writing the same bytes again is harmless, so the
// default single-transaction flow is enough.
std::vector<Outcome> PublisherStage::work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) {
  std::vector<Outcome> outcomes;
  for (const auto& batch : owned) {
    auto pubs = exec_prepared_sql(
        tx, "publisher.publications",
        "SELECT p.pub_id, p.kind, p.content, r.address, b.job_id FROM al.pubs p JOIN al.bchs b ON b.bch_id = p.bch_id "
        "LEFT JOIN al.rcps r ON r.rcp_id = p.rcp_id WHERE p.bch_id = $1 ORDER BY p.pub_id",
        batch.id);
    const std::string where = "batch " + std::to_string(batch.id) + ": publish: ";
    int streams = 0;
    for (const auto& pub : pubs) streams += pub[1].as<std::string>() == "print_stream";
    try {
      AtomicFileSet files;  // one sync for the whole batch
      int stream = 0;
      for (const auto& pub : pubs) {
        const std::string bytes = pqxx::binarystring(pub[2]).str();
        if (pub[1].as<std::string>() == "print_stream") {
          // <job>-<batch>.pdf, or <job>-<batch>-<k>.pdf when print.max_pages split the batch.
          const std::string part = streams > 1 ? "-" + std::to_string(++stream) : "";
          const auto target = std::filesystem::path(ctx.config().storage_spool_dir) /
                              (pub[4].as<std::string>() + "-" + std::to_string(batch.id) + part + ".pdf");
          files.add(target, bytes);
        } else {
          files.add(safe_join(ctx.config().storage_outbox_dir, pub[3].as<std::string>()), bytes);
        }
      }
      files.commit();
    } catch (const std::exception& e) {
      outcomes.push_back({batch.id, batch.attempt, false, where + e.what()});
      continue;
    }
    exec_prepared_sql(tx, "publisher.posted",
                      "UPDATE al.rcps SET posted_at = now(), post_status = true, post_error = NULL "
                      "WHERE bch_id = $1 AND rcpstatus = 411",
                      batch.id);
    outcomes.push_back({batch.id, batch.attempt, true, ""});
  }
  return outcomes;
}

// The outcome of messages handed to the server: deliveries still at intent
// become sent or failed, and the recipients' mail panels say so.
void PublisherStage::record_outcomes(pqxx::work& tx, const nlohmann::json& sent, const nlohmann::json& refused) {
  if (sent.empty() && refused.empty()) return;
  tx.exec_params(
      "UPDATE al.deliveries d SET state = 'sent', finished_at = now(), reply = s->>'reply' "
      "FROM jsonb_array_elements($1::jsonb) s WHERE d.rcp_id = (s->>'rcp_id')::bigint AND d.state = 'intent'",
      sent.dump());
  tx.exec_params(
      "UPDATE al.deliveries d SET state = 'failed', finished_at = now(), reply = s->>'reply' "
      "FROM jsonb_array_elements($1::jsonb) s WHERE d.rcp_id = (s->>'rcp_id')::bigint AND d.state = 'intent'",
      refused.dump());
  tx.exec_params(
      "UPDATE al.rcps r SET posted_at = now(), post_status = true, post_error = NULL "
      "FROM jsonb_array_elements($1::jsonb) s WHERE r.rcp_id = (s->>'rcp_id')::bigint AND r.rcpstatus = 411",
      sent.dump());
  tx.exec_params(
      "UPDATE al.rcps r SET rcpstatus = 641, status_changed_at = now(), post_status = false, "
      "  post_error = s->>'reply', error = 'delivery refused: ' || (s->>'reply') "
      "FROM jsonb_array_elements($1::jsonb) s WHERE r.rcp_id = (s->>'rcp_id')::bigint AND r.rcpstatus = 411",
      refused.dump());
}

// smtp.rate_per_minute is spent or every smtp.max_connections slot is taken:
// the batch goes back to ready until it may go on (seed: "waiting for
// continuation"). attempt + 1 fences out this worker; the try it took is
// given back, as waiting is not failing.
void PublisherStage::wait_for_continuation(StageContext& ctx, const WorkItem& batch, double wait_s,
                                           const std::string& reason) {
  pqxx::work tx(ctx.db());
  set_actor(tx, ctx);
  auto deferred = tx.exec_params(
      "UPDATE al.bchs SET bchstatus = 611, attempt = attempt + 1, tries = greatest(tries - 1, 0), worker = NULL, "
      "  status_changed_at = now(), not_before = now() + make_interval(secs => $3), error = $4 "
      "WHERE bch_id = $1 AND bchstatus = 631 AND attempt = $2 RETURNING job_id",
      batch.id, batch.attempt, std::max(wait_s, 0.05), "waiting for continuation: " + reason);
  tx.commit();
  if (!deferred.empty()) {
    ctx.log().info("job {} batch {}: publish: waiting {:.1f} s for continuation: {}", deferred[0][0].c_str(), batch.id,
                   wait_s, reason);
  }
}

void PublisherStage::publish_email(StageContext& ctx, const WorkItem& batch, const std::string& job_id) {
  const std::string where = "job " + job_id + " batch " + std::to_string(batch.id) + ": publish: ";
  std::vector<Mail> todo;
  {
    pqxx::work tx(ctx.db());
    set_actor(tx, ctx);
    if (ctx.lock_owned(tx, {batch}).empty()) return;
    // Reconcile an earlier try that stopped between intent and outcome: this
    // process still knows what the server said if only the database went
    // away; anything else may or may not have been sent.
    if (!m_known.empty()) {
      nlohmann::json sent = nlohmann::json::array(), refused = nlohmann::json::array();
      for (const auto& [rcp_id, known] : m_known) {
        if (known.bch_id != batch.id || known.attempt != batch.attempt) continue;
        (known.sent ? sent : refused).push_back({{"rcp_id", rcp_id}, {"reply", known.reply}});
      }
      record_outcomes(tx, sent, refused);
      if (!sent.empty() || !refused.empty()) {
        ctx.log().info("{}{} outcomes written after reconnecting (known to this process, not re-sent)", where,
                       sent.size() + refused.size());
      }
    }
    auto unknown = tx.exec_params(
        "UPDATE al.rcps r SET rcpstatus = 641, status_changed_at = now(), post_status = false, "
        "  post_error = 'outcome unknown: the publisher stopped after starting to send (attempt ' || d.attempt || "
        "               '); not re-sent automatically, see alctl retry --unknown', "
        "  error = 'outcome unknown' "
        "FROM al.deliveries d WHERE d.rcp_id = r.rcp_id AND r.bch_id = $1 AND r.rcpstatus = 411 "
        "  AND d.state = 'intent'",
        batch.id);
    if (unknown.affected_rows() > 0) {
      ctx.log().warn("{}{} recipients with outcome unknown after an interrupted attempt; not re-sent", where,
                     unknown.affected_rows());
    }
    auto rows = tx.exec_params(
        "SELECT r.rcp_id, r.address, p.content FROM al.rcps r "
        "JOIN al.pubs p ON p.rcp_id = r.rcp_id AND p.bch_id = r.bch_id "
        "WHERE r.bch_id = $1 AND r.rcpstatus = 411 "
        "  AND NOT EXISTS (SELECT 1 FROM al.deliveries d WHERE d.rcp_id = r.rcp_id AND d.state = 'sent') "
        "ORDER BY r.rcp_id",
        batch.id);
    for (const auto& row : rows) {
      todo.push_back({row[0].as<std::int64_t>(), row[1].as<std::string>(), pqxx::binarystring(row[2]).str()});
    }
    tx.commit();
  }
  std::erase_if(m_known, [&](const auto& entry) { return entry.second.bch_id == batch.id; });

  const std::string envelope_from = mailbox_address(ctx.config().smtp_from);
  for (std::size_t start = 0, end = 0; start < todo.size(); start = end) {
    end = std::min(todo.size(), start + chunk_messages);

    // Intent, fenced: only while the batch is still ours, and only for as
    // many messages as smtp.rate_per_minute has left (shared by every
    // publisher through al.smtp_budget, taken in the same transaction).
    std::vector<std::int64_t> mine;
    {
      pqxx::work tx(ctx.db());
      if (ctx.lock_owned(tx, {batch}).empty()) return;
      const auto budget = tx.exec_params("SELECT granted, wait_s FROM al.take_smtp_budget($1, $2, $3)",
                                         ctx.config().smtp_url, static_cast<int>(end - start),
                                         ctx.config().smtp_rate_per_minute)[0];
      const auto granted = static_cast<std::size_t>(budget[0].as<int>());
      if (granted == 0) {
        tx.commit();
        wait_for_continuation(ctx, batch, budget[1].as<double>(),
                              "smtp.rate_per_minute (" + std::to_string(ctx.config().smtp_rate_per_minute) +
                                  ") reached; " + std::to_string(todo.size() - start) +
                                  " messages go on by themselves");
        return;
      }
      end = start + granted;
      std::vector<std::int64_t> chunk_ids;
      for (std::size_t i = start; i < end; ++i) chunk_ids.push_back(todo[i].rcp_id);
      auto rows = tx.exec_params(
          "INSERT INTO al.deliveries (rcp_id, attempt, state) SELECT unnest($1::bigint[]), $2, 'intent' "
          "ON CONFLICT (rcp_id) DO UPDATE SET state = 'intent', attempt = excluded.attempt, created_at = now(), "
          "  finished_at = NULL, reply = NULL WHERE al.deliveries.state = 'failed' "
          "RETURNING rcp_id",
          array_literal(chunk_ids), batch.attempt);
      for (const auto& r : rows) mine.push_back(r[0].as<std::int64_t>());
      tx.commit();
    }

    nlohmann::json sent = nlohmann::json::array(), refused = nlohmann::json::array();
    std::vector<std::int64_t> unsent;
    std::string transient;
    for (std::size_t i = start; i < end; ++i) {
      const Mail& mail = todo[i];
      if (std::find(mine.begin(), mine.end(), mail.rcp_id) == mine.end()) continue;
      if (!transient.empty()) {
        unsent.push_back(mail.rcp_id);
        continue;
      }
      const SmtpResult result = smtp(ctx.config()).send(envelope_from, mail.address, mail.mime);
      if (result.ok) {
        sent.push_back({{"rcp_id", mail.rcp_id}, {"reply", result.reply}});
      } else if (result.permanent) {
        refused.push_back({{"rcp_id", mail.rcp_id}, {"reply", result.reply}});
        ctx.log().warn("{}recipient {} <{}> refused: {}", where, mail.rcp_id, mail.address, result.reply);
      } else {
        transient = result.reply;
        unsent.push_back(mail.rcp_id);
      }
    }

    // Remembered until written: if the database goes away before the commit,
    // the runtime reconnects and calls process() again, and the reconcile
    // step records these instead of calling them "outcome unknown".
    for (const auto& m : sent)
      m_known[m["rcp_id"].get<std::int64_t>()] = {batch.id, batch.attempt, true, m["reply"].get<std::string>()};
    for (const auto& m : refused)
      m_known[m["rcp_id"].get<std::int64_t>()] = {batch.id, batch.attempt, false, m["reply"].get<std::string>()};
    {
      pqxx::work tx(ctx.db());
      set_actor(tx, ctx);
      record_outcomes(tx, sent, refused);
      // Not handed to the server at all: no intent remains, so a later try sends them.
      tx.exec_params("DELETE FROM al.deliveries WHERE rcp_id = ANY($1::bigint[]) AND state = 'intent'",
                     array_literal(unsent));
      tx.commit();
    }
    for (const auto& m : sent) m_known.erase(m["rcp_id"].get<std::int64_t>());
    for (const auto& m : refused) m_known.erase(m["rcp_id"].get<std::int64_t>());

    if (!transient.empty()) {
      // Defer the batch: back to ready with a not_before; the claim skips it
      // until then. attempt + 1 fences out this worker's further writes.
      pqxx::work tx(ctx.db());
      set_actor(tx, ctx);
      auto deferred = tx.exec_params(
          "UPDATE al.bchs SET bchstatus = 611, attempt = attempt + 1, status_changed_at = now(), worker = NULL, "
          "  not_before = now() + make_interval(secs => least(300, power(2, greatest(tries - 1, 0)))::int), "
          "  error = $3 "
          "WHERE bch_id = $1 AND bchstatus = 631 AND attempt = $2 "
          "RETURNING extract(epoch FROM not_before - now())::int",
          batch.id, batch.attempt, "smtp: " + transient + "; will retry");
      tx.commit();
      if (!deferred.empty()) {
        ctx.log().warn("{}smtp {}: {} sent, {} waiting; will retry in {}s", where, transient,
                       sent.size(), todo.size() - start - sent.size(), deferred[0][0].as<int>());
      }
      return;
    }
  }

  pqxx::work tx(ctx.db());
  set_actor(tx, ctx);
  auto owned = ctx.lock_owned(tx, {batch});
  if (!owned.empty()) ctx.finish(tx, {{batch.id, batch.attempt, true, ""}});
  tx.commit();
}

}  // namespace al
