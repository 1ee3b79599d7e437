#include "assembler/assembler_stage.hpp"

#include <unordered_map>

#include <nlohmann/json.hpp>

#include "assemblyline/database.hpp"
#include "assemblyline/digest.hpp"
#include "assemblyline/record_validation.hpp"
#include "assemblyline/template_renderer.hpp"

namespace al {

std::vector<Outcome> AssemblerStage::work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) {
  std::vector<std::int64_t> ids;
  std::unordered_map<std::int64_t, int> attempt_of;
  for (const auto& item : owned) {
    ids.push_back(item.id);
    attempt_of[item.id] = item.attempt;
  }
  // One query for the records and their templates; the template text repeats
  // per row but stays in the database's cache, and a batch is one job mostly.
  auto rows = exec_prepared_sql(
      tx, "assembler.records",
      "SELECT t.trn_id, t.seq, t.job_id, t.data::text, tp.body, coalesce(array_to_json(tp.required_fields)::text, '[]') "
      "FROM al.trns t JOIN al.jobs j ON j.job_id = t.job_id "
      "LEFT JOIN al.templates tp ON tp.name = j.template AND tp.version = j.template_version "
      "WHERE t.trn_id = ANY($1::bigint[]) ORDER BY t.trn_id",
      array_literal(ids));

  std::vector<Outcome> outcomes;
  nlohmann::json documents = nlohmann::json::array();
  for (const auto& row : rows) {
    const auto trn_id = row[0].as<std::int64_t>();
    const std::string where = "job " + row[2].as<std::string>() + " record " + row[1].as<std::string>() + ": assemble: ";
    Outcome outcome{trn_id, attempt_of[trn_id], true, ""};
    if (row[4].is_null()) {
      outcome = {trn_id, attempt_of[trn_id], false, where + "the job's template version no longer exists"};
    } else {
      const auto data = nlohmann::json::parse(row[3].as<std::string>());
      const auto required = nlohmann::json::parse(row[5].as<std::string>()).get<std::vector<std::string>>();
      // Validated at identification too; checked again because a retried
      // record must not be rendered with a field still missing.
      if (std::string problem = record_problem(data, required); !problem.empty()) {
        outcome = {trn_id, attempt_of[trn_id], false, where + problem};
      } else {
        try {
          std::string html = render_template(row[4].as<std::string>(), data);
          documents.push_back({{"trn_id", trn_id}, {"sha256", sha256_hex(html)}, {"bytes", html.size()},
                               {"html", std::move(html)}});
        } catch (const std::exception& e) {
          outcome = {trn_id, attempt_of[trn_id], false, where + e.what()};
        }
      }
    }
    if (!outcome.ok) ctx.log().warn("{}", outcome.error);
    outcomes.push_back(std::move(outcome));
  }
  if (!documents.empty()) {
    exec_prepared_sql(
        tx, "assembler.documents",
        "INSERT INTO al.documents (trn_id, html, sha256, bytes) "
        "SELECT (e->>'trn_id')::bigint, e->>'html', e->>'sha256', (e->>'bytes')::int "
        "FROM jsonb_array_elements($1::jsonb) e "
        "ON CONFLICT (trn_id) DO UPDATE SET html = excluded.html, sha256 = excluded.sha256, "
        "bytes = excluded.bytes, created_at = now()",
        documents.dump());
  }
  return outcomes;
}

}  // namespace al
