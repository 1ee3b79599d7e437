#include "db/line_driver.hpp"

#include <sstream>
#include <stdexcept>

namespace al::test {

std::unique_ptr<pqxx::connection> connect(const std::string& url) {
  return std::make_unique<pqxx::connection>(url);
}

std::string value(pqxx::connection& conn, const std::string& sql) {
  pqxx::work tx(conn);
  auto r = tx.exec(sql);
  tx.commit();
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

int int_value(pqxx::connection& conn, const std::string& sql) {
  const auto v = value(conn, sql);
  return v.empty() ? 0 : std::stoi(v);
}

std::vector<int> int_column(pqxx::connection& conn, const std::string& sql) {
  pqxx::work tx(conn);
  auto r = tx.exec(sql);
  tx.commit();
  std::vector<int> out;
  for (const auto& row : r) out.push_back(row[0].is_null() ? 0 : row[0].as<int>());
  return out;
}

std::vector<std::string> text_column(pqxx::connection& conn, const std::string& sql) {
  pqxx::work tx(conn);
  auto r = tx.exec(sql);
  tx.commit();
  std::vector<std::string> out;
  for (const auto& row : r) out.push_back(row[0].is_null() ? "" : row[0].c_str());
  return out;
}

std::string array_literal(const Ids& ids) {
  std::string s = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "}";
}

namespace {

std::string attempts_literal(const std::vector<Claimed>& items) {
  std::string s = "{";
  for (std::size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + std::to_string(items[i].attempt);
  return s + "}";
}

std::vector<Claimed> claimed_rows(const pqxx::result& r) {
  std::vector<Claimed> out;
  for (const auto& row : r) out.push_back({row[0].as<std::int64_t>(), row[1].as<int>()});
  return out;
}

}  // namespace

Ids ids_of(const std::vector<Claimed>& items) {
  Ids ids;
  for (const auto& c : items) ids.push_back(c.id);
  return ids;
}

std::vector<Claimed> claim(pqxx::connection& conn, const std::string& stage, const std::string& worker, int limit) {
  pqxx::work tx(conn);
  tx.exec("SELECT set_config('al.actor', 'scheduler', true)");
  auto r = tx.exec_params("SELECT id, attempt FROM al.claim($1, $2, $3) ORDER BY id", stage, limit, worker);
  tx.commit();
  return claimed_rows(r);
}

std::vector<Claimed> ack(pqxx::connection& conn, const std::string& stage, const std::vector<Claimed>& items,
                         const std::string& worker) {
  pqxx::work tx(conn);
  tx.exec_params("SELECT set_config('al.actor', $1, true)", worker);
  auto r = tx.exec_params("SELECT id, attempt FROM al.ack($1, $2::bigint[], $3::int[], $4) ORDER BY id", stage,
                          array_literal(ids_of(items)), attempts_literal(items), worker);
  tx.commit();
  return claimed_rows(r);
}

namespace {

int finish_in(pqxx::work& tx, const std::string& stage, const std::vector<Claimed>& items,
              const std::set<std::int64_t>& failed) {
  std::string oks = "{", errors = "{";
  for (std::size_t i = 0; i < items.size(); ++i) {
    const bool fail = failed.count(items[i].id) > 0;
    oks += std::string(i ? "," : "") + (fail ? "f" : "t");
    errors += std::string(i ? "," : "") + (fail ? "\"" + stage + ": failed in test\"" : "NULL");
  }
  oks += "}";
  errors += "}";
  auto r = tx.exec_params("SELECT al.finish($1, $2::bigint[], $3::int[], $4::boolean[], $5::text[])", stage,
                          array_literal(ids_of(items)), attempts_literal(items), oks, errors);
  return r[0][0].as<int>();
}

}  // namespace

int finish(pqxx::connection& conn, const std::string& stage, const std::vector<Claimed>& items,
           const std::set<std::int64_t>& failed) {
  pqxx::work tx(conn);
  tx.exec_params("SELECT set_config('al.actor', $1, true)", stage);
  const int n = finish_in(tx, stage, items, failed);
  tx.commit();
  return n;
}

void default_work(pqxx::work& tx, const std::string& stage, const Ids& owned) {
  const std::string ids = array_literal(owned);
  if (stage == "identifier") {
    tx.exec_params(R"(
      INSERT INTO al.trns (job_id, seq, data, trnstatus, error)
      SELECT j.job_id, e.ord, e.rec,
             CASE WHEN m.missing IS NULL THEN 211 ELSE 241 END,
             CASE WHEN m.missing IS NULL THEN NULL
                  ELSE format('record %s: missing required field %s', e.ord, m.missing) END
      FROM al.jobs j
      JOIN al.templates t ON t.name = j.template AND t.version = j.template_version
      CROSS JOIN LATERAL jsonb_array_elements(j.records) WITH ORDINALITY AS e(rec, ord)
      CROSS JOIN LATERAL (SELECT min(f) AS missing FROM unnest(t.required_fields) f WHERE NOT e.rec ? f) m
      WHERE j.job_id = ANY ($1::bigint[])
      ORDER BY j.job_id, e.ord)",
                   ids);
    tx.exec_params(
        "UPDATE al.jobs j SET n_records = (SELECT count(*) FROM al.trns t WHERE t.job_id = j.job_id) "
        "WHERE j.job_id = ANY ($1::bigint[])",
        ids);
  } else if (stage == "distributor") {
    tx.exec_params(R"(
      INSERT INTO al.rcps (job_id, trn_id, channel, address, role, rcpstatus, error)
      SELECT t.job_id, t.trn_id, r->>'channel', r->>'address', coalesce(r->>'role', 'client'),
             CASE WHEN cp.opted_out THEN 388 ELSE 401 END,
             CASE WHEN cp.opted_out THEN 'opted out: ' || coalesce(cp.reason, '') END
      FROM al.trns t
      CROSS JOIN LATERAL jsonb_array_elements(coalesce(t.data->'recipients', '[]')) AS r
      LEFT JOIN al.contact_preferences cp
        ON cp.address = lower(r->>'address') AND cp.channel = r->>'channel' AND cp.opted_out
      WHERE t.trn_id = ANY ($1::bigint[])
      ORDER BY t.trn_id)",
                   ids);
  } else if (stage == "presenter") {
    tx.exec_params(R"(
      INSERT INTO al.pubs (bch_id, rcp_id, kind, content, sha256, bytes)
      SELECT r.bch_id, r.rcp_id, r.channel, 'x'::bytea, 'h', 1
      FROM al.rcps r WHERE r.bch_id = ANY ($1::bigint[]) AND r.channel <> 'print' AND r.rcpstatus = 411
      UNION ALL
      SELECT b.bch_id, NULL, 'print_stream', 'x'::bytea, 'h', 1
      FROM al.bchs b WHERE b.bch_id = ANY ($1::bigint[]) AND b.channel = 'print')",
                   ids);
  }
}

Ids claim_ack_finish(pqxx::connection& conn, const std::string& stage, const std::set<std::int64_t>& failed,
                     const Work& work) {
  // As the scheduler does: records assembled by now pass the barrier first.
  if (stage == "distributor") int_value(conn, "SELECT al.open_barriers(100000)");
  const auto claimed = claim(conn, stage, "test-" + stage);
  if (claimed.empty()) return {};
  const auto acked = ack(conn, stage, claimed, "test-" + stage);
  pqxx::work tx(conn);
  tx.exec_params("SELECT set_config('al.actor', $1, true)", "test-" + stage);
  auto owned_rows = tx.exec_params("SELECT id, attempt FROM al.lock_owned($1, $2::bigint[], $3::int[])", stage,
                                   array_literal(ids_of(acked)), attempts_literal(acked));
  const auto owned = claimed_rows(owned_rows);
  if (work) {
    work(tx, ids_of(owned));
  } else {
    default_work(tx, stage, ids_of(owned));
  }
  finish_in(tx, stage, owned, failed);
  tx.commit();
  return ids_of(owned);
}

int run_line(pqxx::connection& conn, const LineRun& options) {
  static const char* const stages[] = {"identifier", "assembler", "distributor", "presenter",
                                       "archiver",   "publisher", "notifier"};
  const std::string undeliverable = [&] {
    std::string s = "{";
    for (const auto& a : options.undeliverable) s += (s.size() > 1 ? "," : "") + std::string("\"") + a + "\"";
    return s + "}";
  }();
  const Work publish = [&](pqxx::work& tx, const Ids& owned) {
    tx.exec_params(
        "UPDATE al.rcps SET rcpstatus = 641, post_status = false, post_error = '550 no such user', "
        "error = 'delivery refused: 550 no such user' "
        "WHERE bch_id = ANY ($1::bigint[]) AND rcpstatus = 411 AND address = ANY ($2::text[])",
        array_literal(owned), undeliverable);
  };
  for (int round = 1; round <= 50; ++round) {
    int moved = int_value(conn, "SELECT al.receive_jobs(1000)");
    moved += int_value(conn, "SELECT al.form_batches(1000, " + std::to_string(options.batch_size) + ")");
    for (const char* stage : stages) {
      const std::string s = stage;
      moved += static_cast<int>(claim_ack_finish(conn, s, {}, s == "publisher" ? publish : Work{}).size());
    }
    if (moved == 0) return round;
  }
  throw std::runtime_error("run_line: the line still moves after 50 rounds");
}

std::vector<int> job_history(pqxx::connection& conn, std::int64_t job_id) {
  return int_column(conn, "SELECT new_status FROM al.status_history WHERE object = 'JOBS' AND id = " +
                              std::to_string(job_id) + " ORDER BY history_id");
}

std::int64_t submit(pqxx::connection& conn, const std::string& template_name, const std::string& records_json) {
  pqxx::work tx(conn);
  auto r = tx.exec_params("SELECT al.submit_job($1, $2::jsonb)", template_name, records_json);
  tx.commit();
  return r[0][0].as<std::int64_t>();
}

void put_template(pqxx::connection& conn, const std::string& name, const std::string& sort_field) {
  pqxx::work tx(conn);
  tx.exec_params("SELECT al.put_template($1, 'Hello {{name}}', 'Hi {{name}}', '{name}', nullif($2, ''))", name,
                 sort_field);
  tx.commit();
}

std::string joined(const std::vector<int>& codes) {
  std::ostringstream out;
  for (std::size_t i = 0; i < codes.size(); ++i) out << (i ? "," : "") << codes[i];
  return out.str();
}

}  // namespace al::test

namespace al::test {

std::vector<std::string> counter_mismatches(pqxx::connection& conn) {
  // Each counter against its definition in sql/001_objects.sql, by explicit code lists.
  struct Counter {
    const char* column;
    const char* table;
    const char* status_column;
    const char* codes;
  };
  static const Counter counters[] = {
      {"n_trns_assembling", "trns", "trnstatus", "190, 201, 211, 221, 231"},
      {"n_trns_at_barrier", "trns", "trnstatus", "290, 301"},
      {"n_trns_distributing", "trns", "trnstatus", "311, 321, 331"},
      {"n_trns_unbatched", "trns", "trnstatus", "390, 401"},
      {"n_trns_batched", "trns", "trnstatus", "411, 415, 421, 431, 490"},
      {"n_trns_failed", "trns", "trnstatus", "241, 341, 441, 541"},
      {"n_trns_done", "trns", "trnstatus", "999"},
      {"n_trns_cancelled", "trns", "trnstatus", "888"},
      {"n_bchs_presenting", "bchs", "bchstatus", "401, 411, 415, 421, 431"},
      {"n_bchs_open", "bchs", "bchstatus", "490, 501, 511, 521, 531, 590, 601, 611, 621, 631, 690, 701, 711, 721, 731, 790"},
      {"n_bchs_failed", "bchs", "bchstatus", "441, 541, 641, 741"},
      {"n_rcps_open", "rcps", "rcpstatus", "401, 411"},
      {"n_rcps_delivered", "rcps", "rcpstatus", "999"},
      {"n_rcps_failed", "rcps", "rcpstatus", "341, 541, 641"},
      {"n_rcps_excluded", "rcps", "rcpstatus", "388"},
      {"n_rcps_cancelled", "rcps", "rcpstatus", "888"},
  };
  std::vector<std::string> out;
  pqxx::work tx(conn);
  for (const auto& c : counters) {
    const std::string sql = std::string("SELECT j.job_id, j.") + c.column + ", coalesce(x.n, 0) FROM al.jobs j " +
                            "LEFT JOIN (SELECT job_id, count(*) AS n FROM al." + c.table + " WHERE " +
                            c.status_column + " IN (" + c.codes + ") GROUP BY job_id) x USING (job_id) " +
                            "WHERE j." + c.column + " <> coalesce(x.n, 0) ORDER BY 1";
    for (const auto& row : tx.exec(sql)) {
      out.push_back("job " + std::string(row[0].c_str()) + ": " + c.column + " got " + row[1].c_str() + ", want " +
                    row[2].c_str());
    }
  }
  for (const auto& row : tx.exec(
           "SELECT t.trn_id, t.n_rcps_open, coalesce(x.n, 0) FROM al.trns t "
           "LEFT JOIN (SELECT trn_id, count(*) AS n FROM al.rcps WHERE rcpstatus IN (401, 411) GROUP BY trn_id) x "
           "USING (trn_id) WHERE t.n_rcps_open <> coalesce(x.n, 0) ORDER BY 1")) {
    out.push_back("trn " + std::string(row[0].c_str()) + ": n_rcps_open got " + row[1].c_str() + ", want " +
                  row[2].c_str());
  }
  tx.commit();
  return out;
}

}  // namespace al::test
