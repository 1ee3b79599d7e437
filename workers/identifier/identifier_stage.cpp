#include "identifier/identifier_stage.hpp"

#include <algorithm>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>
#include <pqxx/stream_to>

#include "assemblyline/error.hpp"
#include "assemblyline/record_source.hpp"
#include "assemblyline/record_validation.hpp"

namespace al {

namespace {

// Records per transaction: big enough that COPY and the statement triggers
// run rarely, small enough that progress shows and memory stays small. The
// first chunks are smaller, doubling up to that size, so the assemblers get
// their first records after a few milliseconds rather than after the time of
// a whole chunk.
constexpr long chunk_records = 2000;
constexpr long first_chunk_records = 250;

// One record read from the job's input: its JSON text, or why it is invalid.
struct Record {
  std::string json;     ///< the record as a JSON object
  std::string problem;  ///< "" for a valid record
};

std::string size_problem(std::size_t bytes, std::size_t max_bytes) {
  if (bytes <= max_bytes) return "";
  return "the record is " + std::to_string(bytes) + " bytes, over the limit of " + std::to_string(max_bytes) +
         " (al.settings max_record_bytes)";
}

// Where a job's records come from, read a chunk at a time.
class RecordInput {
public:
  virtual ~RecordInput() = default;
  /// Appends up to `n` records to `out`; false once the input is exhausted.
  /// Called outside any transaction: a slow file must not hold the job's
  /// row lock, which every roll-up of the job's records needs.
  virtual bool read(pqxx::connection& db, long n, std::vector<Record>& out) = 0;
  /// Called once the job is done with, in a transaction of its own.
  virtual void close(pqxx::work& /*tx*/) {}
};

// Records of al.jobs.records: a cursor WITH HOLD expands the array once and
// survives the commits between chunks.
class InlineRecords : public RecordInput {
public:
  InlineRecords(pqxx::work& tx, std::int64_t job_id, long resume, std::vector<std::string> required,
                std::size_t max_bytes)
      : m_required(std::move(required)), m_max_bytes(max_bytes) {
    tx.exec("CLOSE ALL");  // a cursor left by an interrupted try on this connection
    tx.exec("DECLARE al_records NO SCROLL CURSOR WITH HOLD FOR "
            "SELECT e.rec::text FROM al.jobs j, jsonb_array_elements(j.records) WITH ORDINALITY AS e(rec, ord) "
            "WHERE j.job_id = " + std::to_string(job_id) + " AND e.ord > " + std::to_string(resume) +
            " ORDER BY e.ord");
  }

  bool read(pqxx::connection& db, long n, std::vector<Record>& out) override {
    pqxx::work tx(db);
    const auto rows = tx.exec("FETCH " + std::to_string(n) + " FROM al_records");
    tx.commit();
    for (const auto& row : rows) {
      Record r{row[0].as<std::string>(), ""};
      r.problem = size_problem(r.json.size(), m_max_bytes);
      auto data = nlohmann::json::parse(r.json);
      if (r.problem.empty()) r.problem = record_problem(data, m_required);
      if (!data.is_object()) r.json = nlohmann::json{{"value", std::move(data)}}.dump();
      out.push_back(std::move(r));
    }
    return static_cast<long>(rows.size()) == n;
  }

  void close(pqxx::work& tx) override { tx.exec("CLOSE al_records"); }

private:
  std::vector<std::string> m_required;
  std::size_t m_max_bytes;
};

// Records of a CSV or JSONL file, streamed; a resumed try skips the records
// committed before.
class FileRecords : public RecordInput {
public:
  FileRecords(std::unique_ptr<RecordSource> source, long resume, std::vector<std::string> required,
              std::size_t max_bytes)
      : m_source(std::move(source)), m_required(std::move(required)), m_max_bytes(max_bytes) {
    SourceRecord skipped;
    for (long i = 0; i < resume && m_source->next(skipped); ++i) {
    }
  }

  bool read(pqxx::connection& /*db*/, long n, std::vector<Record>& out) override {
    SourceRecord record;
    for (long i = 0; i < n; ++i) {
      if (!m_source->next(record)) return false;
      Record r{record.data.dump(), record.problem};
      if (r.problem.empty()) r.problem = size_problem(r.json.size(), m_max_bytes);
      if (r.problem.empty()) r.problem = record_problem(record.data, m_required);
      out.push_back(std::move(r));
    }
    return true;
  }

private:
  std::unique_ptr<RecordSource> m_source;
  std::vector<std::string> m_required;
  std::size_t m_max_bytes;
};

void set_actor(pqxx::work& tx, const StageContext& ctx) {
  tx.exec_params("SELECT set_config('al.actor', $1, true)", ctx.worker_name());
}

}  // namespace

void IdentifierStage::process(StageContext& ctx, const std::vector<WorkItem>& acked) {
  for (const auto& job : acked) identify(ctx, job);
}

std::vector<Outcome> IdentifierStage::work(StageContext&, pqxx::work&, const std::vector<WorkItem>&) {
  throw Error("identifier: work() is not used; process() identifies chunk by chunk");
}

void IdentifierStage::identify(StageContext& ctx, const WorkItem& job) {
  const std::string where = "job " + std::to_string(job.id) + ": identify: ";
  std::unique_ptr<RecordInput> input;
  long seq = 0;  // records of the job committed so far
  {
    pqxx::work tx(ctx.db());
    set_actor(tx, ctx);
    if (ctx.lock_owned(tx, {job}).empty()) return;
    auto info = tx.exec_params(
        "SELECT j.records IS NOT NULL, coalesce(j.input_path, ''), coalesce(j.input_format, ''), "
        "       t.name IS NOT NULL, coalesce(array_to_json(t.required_fields)::text, '[]'), "
        "       al.setting('max_record_bytes')::int, j.template, "
        "       (SELECT coalesce(max(seq), 0) FROM al.trns WHERE job_id = j.job_id) "
        "FROM al.jobs j LEFT JOIN al.templates t ON t.name = j.template AND t.version = j.template_version "
        "WHERE j.job_id = $1",
        job.id);
    const auto& row = info[0];
    std::string problem;
    if (!row[3].as<bool>()) problem = "unknown template '" + row[6].as<std::string>() + "'";
    const auto required = nlohmann::json::parse(row[4].as<std::string>()).get<std::vector<std::string>>();
    const auto max_bytes = static_cast<std::size_t>(row[5].as<int>());
    seq = row[7].as<long>();
    if (problem.empty()) {
      if (row[0].as<bool>()) {
        input = std::make_unique<InlineRecords>(tx, job.id, seq, required, max_bytes);
      } else {
        try {
          input = std::make_unique<FileRecords>(open_record_file(row[1].as<std::string>(), row[2].as<std::string>()),
                                                seq, required, max_bytes);
        } catch (const Error& e) {
          problem = e.what();
        }
      }
    }
    if (!problem.empty()) {
      ctx.finish(tx, {{job.id, job.attempt, false, where + problem}});
      tx.commit();
      ctx.log().warn("{}{}", where, problem);
      return;
    }
    // Nothing but a row lock and a cursor to keep: no need to wait for the disk.
    tx.exec("SET LOCAL synchronous_commit = off");
    tx.commit();
    if (seq > 0) ctx.log().info("{}resuming after the {} records committed by an earlier try", where, seq);
  }

  long invalid = 0;
  const long resumed = seq;
  long chunk_size = first_chunk_records;
  for (bool more = true; more; chunk_size = std::min(chunk_records, 2 * chunk_size)) {
    std::vector<Record> chunk;
    chunk.reserve(static_cast<std::size_t>(chunk_size));
    more = input->read(ctx.db(), chunk_size, chunk);
    pqxx::work tx(ctx.db());
    set_actor(tx, ctx);
    if (ctx.lock_owned(tx, {job}).empty()) return;  // cancelled or timed out meanwhile
    if (!chunk.empty()) {
      pqxx::stream_to copy(tx, "al.trns", std::vector<std::string>{"job_id", "seq", "trnstatus", "error", "data"});
      for (const auto& r : chunk) {
        ++seq;
        if (r.problem.empty()) {
          copy << std::make_tuple(job.id, seq, 211, nullptr, r.json);
        } else {
          ++invalid;
          copy << std::make_tuple(job.id, seq, 241, "record " + std::to_string(seq) + ": " + r.problem, r.json);
        }
      }
      copy.complete();
    }
    // Progress for the overview, and a renewed lease: status_changed_at is
    // what the stage timeout measures, and a file of a million records takes
    // longer to read than that.
    tx.exec_params("UPDATE al.jobs SET n_records = $2, status_changed_at = now() WHERE job_id = $1", job.id, seq);
    // The assemblers may start on the records committed so far: the barrier
    // before distribution waits for the whole job anyway (al.advance_jobs
    // opens it only once the job is identified). The last chunk's records are
    // announced by the identifier's DONE.
    if (more && !chunk.empty()) tx.exec("SELECT pg_notify('al_ready', 'assembler')");
    if (!more) {
      input->close(tx);
      if (seq == 0) {
        ctx.finish(tx, {{job.id, job.attempt, false, where + "the input file holds no records"}});
      } else {
        ctx.finish(tx, {{job.id, job.attempt, true, ""}});
      }
    }
    tx.commit();
    if (more) ctx.log().debug("{}{} records so far", where, seq);
  }
  ctx.log().info("job {}: identified {} records ({} invalid{})", job.id, seq, invalid,
                 resumed > 0 ? ", " + std::to_string(resumed) + " of them by an earlier try" : "");
}

}  // namespace al
