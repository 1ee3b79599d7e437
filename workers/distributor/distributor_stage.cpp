#include "distributor/distributor_stage.hpp"

#include "assemblyline/database.hpp"

namespace al {

std::vector<Outcome> DistributorStage::work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) {
  std::vector<std::int64_t> ids;
  for (const auto& item : owned) ids.push_back(item.id);
  const std::string id_array = array_literal(ids);

  // A record redone gets its recipients afresh; delivered or batched ones are
  // never touched. Only a record with attempt > 0 can have any: its
  // recipients exist only once a distribution committed, and every way back
  // to 311 after that (alctl retry, a timeout's requeue) bumps the attempt.
  // Skipping the others matters: while al.rcps grows from empty, its
  // statistics lag and the planner reads the whole table for this statement
  // (26 ms a call, 15 s of a 300 000-record run, deleting nothing).
  // al.pubs has no foreign key (sql/021), so publications of a removed
  // recipient go with it here, found by `= ANY` on their index (as
  // `IN (SELECT …)` the planner hashed the removed ids and read every
  // publication of every job).
  std::vector<std::int64_t> redone;
  for (const auto& item : owned)
    if (item.attempt > 0) redone.push_back(item.id);
  if (!redone.empty())
    tx.exec_params(
        "WITH gone AS (DELETE FROM al.rcps WHERE trn_id = ANY($1::bigint[]) AND rcpstatus IN (341, 388, 401) "
        "              RETURNING rcp_id) "
        "DELETE FROM al.pubs WHERE rcp_id = ANY (ARRAY(SELECT rcp_id FROM gone))",
        array_literal(redone));
  // E-mail addresses are compared case-insensitively (stored lower-case in
  // al.contact_preferences); postal and file addresses exactly.
  auto created = exec_prepared_sql(
      tx, "distributor.recipients",
      "INSERT INTO al.rcps (job_id, trn_id, channel, address, role, rcpstatus, error) "
      "SELECT t.job_id, t.trn_id, r.rcp->>'channel', r.rcp->>'address', coalesce(r.rcp->>'role', 'client'), "
      "       CASE WHEN cp.address IS NULL THEN 401 ELSE 388 END, "
      "       CASE WHEN cp.address IS NULL THEN NULL "
      "            ELSE 'excluded by communication status: ' || coalesce(cp.reason, 'opted out') END "
      "FROM al.trns t "
      "CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(t.data->'recipients') = 'array' "
      "                                        THEN t.data->'recipients' ELSE '[]'::jsonb END) "
      "     WITH ORDINALITY AS r(rcp, ord) "
      "LEFT JOIN al.contact_preferences cp ON cp.opted_out AND cp.channel = r.rcp->>'channel' "
      "     AND cp.address = CASE WHEN r.rcp->>'channel' = 'email' THEN lower(r.rcp->>'address') "
      "                           ELSE r.rcp->>'address' END "
      "WHERE t.trn_id = ANY($1::bigint[]) "
      "ORDER BY t.trn_id, r.ord",
      id_array);
  ctx.log().debug("distributed {} records into {} recipients", ids.size(), created.affected_rows());

  std::vector<Outcome> outcomes;
  outcomes.reserve(owned.size());
  for (const auto& item : owned) outcomes.push_back({item.id, item.attempt, true, ""});
  return outcomes;
}

}  // namespace al
