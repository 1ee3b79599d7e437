#include "identifier/identifier_stage.hpp"

#include <nlohmann/json.hpp>

#include "assemblyline/error.hpp"
#include "assemblyline/record_source.hpp"
#include "assemblyline/record_validation.hpp"

namespace al {

namespace {

// Records go to the database in chunks: one INSERT (and one run of the
// statement triggers) per chunk, so memory stays bounded for any job size.
constexpr std::size_t chunk_records = 2000;

class TrnsWriter {
public:
  TrnsWriter(pqxx::work& tx, std::int64_t job_id) : m_tx(tx), m_job_id(job_id) {}

  void add(long seq, const nlohmann::json& data, const std::string& problem) {
    nlohmann::json row = {{"seq", seq}, {"data", data}};
    if (!problem.empty()) row["error"] = "record " + std::to_string(seq) + ": " + problem;
    m_rows.push_back(std::move(row));
    ++m_count;
    if (!problem.empty()) ++m_invalid;
    if (m_rows.size() >= chunk_records) flush();
  }

  void flush() {
    if (m_rows.empty()) return;
    m_tx.exec_params(
        "INSERT INTO al.trns (job_id, seq, trnstatus, error, data) "
        "SELECT $1, (e->>'seq')::int, CASE WHEN e ? 'error' THEN 241 ELSE 211 END, e->>'error', e->'data' "
        "FROM jsonb_array_elements($2::jsonb) e",
        m_job_id, m_rows.dump());
    m_rows = nlohmann::json::array();
  }

  [[nodiscard]] long count() const { return m_count; }
  [[nodiscard]] long invalid() const { return m_invalid; }

private:
  pqxx::work& m_tx;
  std::int64_t m_job_id;
  nlohmann::json m_rows = nlohmann::json::array();
  long m_count = 0;
  long m_invalid = 0;
};

std::string size_problem(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return "";
  return "the record is " + std::to_string(text.size()) + " bytes, over the limit of " + std::to_string(max_bytes) +
         " (al.settings max_record_bytes)";
}

}  // namespace

std::vector<Outcome> IdentifierStage::work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) {
  std::vector<Outcome> outcomes;
  outcomes.reserve(owned.size());
  for (const auto& job : owned) outcomes.push_back(identify(ctx, tx, job));
  return outcomes;
}

Outcome IdentifierStage::identify(StageContext& ctx, pqxx::work& tx, const WorkItem& job) {
  const std::string where = "job " + std::to_string(job.id) + ": identify: ";
  auto info = tx.exec_params(
      "SELECT j.records IS NOT NULL, coalesce(j.input_path, ''), coalesce(j.input_format, ''), "
      "       t.name IS NOT NULL, coalesce(array_to_json(t.required_fields)::text, '[]'), "
      "       al.setting('max_record_bytes')::int, j.template "
      "FROM al.jobs j LEFT JOIN al.templates t ON t.name = j.template AND t.version = j.template_version "
      "WHERE j.job_id = $1",
      job.id);
  if (info.empty()) return {job.id, job.attempt, false, where + "job row vanished"};
  const auto& row = info[0];
  if (!row[3].as<bool>()) {
    return {job.id, job.attempt, false, where + "unknown template '" + row[6].as<std::string>() + "'"};
  }
  const auto required = nlohmann::json::parse(row[4].as<std::string>()).get<std::vector<std::string>>();
  const auto max_bytes = static_cast<std::size_t>(row[5].as<int>());

  // Nothing of this job may exist yet: the whole identification is one
  // transaction, so a crash leaves no partial set of records behind.
  tx.exec_params("DELETE FROM al.trns WHERE job_id = $1", job.id);

  TrnsWriter writer(tx, job.id);
  if (row[0].as<bool>()) {
    auto records = tx.exec_params(
        "SELECT e.rec::text FROM al.jobs j, jsonb_array_elements(j.records) WITH ORDINALITY AS e(rec, ord) "
        "WHERE j.job_id = $1 ORDER BY e.ord",
        job.id);
    long seq = 0;
    for (const auto& r : records) {
      const std::string text = r[0].as<std::string>();
      std::string problem = size_problem(text, max_bytes);
      nlohmann::json data = nlohmann::json::parse(text);
      if (problem.empty()) problem = record_problem(data, required);
      if (!data.is_object()) data = nlohmann::json{{"value", std::move(data)}};
      writer.add(++seq, data, problem);
    }
  } else {
    std::unique_ptr<RecordSource> source;
    try {
      source = open_record_file(row[1].as<std::string>(), row[2].as<std::string>());
    } catch (const Error& e) {
      return {job.id, job.attempt, false, where + e.what()};
    }
    SourceRecord record;
    long seq = 0;
    while (source->next(record)) {
      std::string problem = record.problem;
      if (problem.empty()) problem = size_problem(record.data.dump(), max_bytes);
      if (problem.empty()) problem = record_problem(record.data, required);
      writer.add(++seq, record.data, problem);
    }
    if (seq == 0) return {job.id, job.attempt, false, where + "the input file holds no records"};
  }
  writer.flush();
  tx.exec_params("UPDATE al.jobs SET n_records = $2 WHERE job_id = $1", job.id, writer.count());
  ctx.log().info("job {}: identified {} records ({} invalid)", job.id, writer.count(), writer.invalid());
  return {job.id, job.attempt, true, ""};
}

}  // namespace al
