// The stage table, the fenced reads/writes of StageContext and the default
// one-transaction Stage::process (see stage.hpp and docs/internals.md).
#include "assemblyline/stage.hpp"

#include <array>

#include "assemblyline/database.hpp"
#include "assemblyline/error.hpp"

namespace al {

namespace {

std::vector<WorkItem> read_items(const pqxx::result& rows) {
  std::vector<WorkItem> items;
  items.reserve(rows.size());
  for (const auto& row : rows) items.push_back({row[0].as<std::int64_t>(), row[1].as<int>()});
  return items;
}

template <typename T, typename F>
std::string literal_of(const std::vector<T>& items, F field) {
  std::vector<decltype(field(items.front()))> values;
  values.reserve(items.size());
  for (const auto& item : items) values.push_back(field(item));
  return array_literal(values);
}

}  // namespace

const StageInfo& stage_info(const std::string& name) {
  static const std::array<StageInfo, 7> stages = {{
      {"identifier", "al.jobs", "job_id", "jobstatus", 1},
      {"assembler", "al.trns", "trn_id", "trnstatus", 2},
      {"distributor", "al.trns", "trn_id", "trnstatus", 3},
      {"presenter", "al.bchs", "bch_id", "bchstatus", 4},
      {"archiver", "al.bchs", "bch_id", "bchstatus", 5},
      {"publisher", "al.bchs", "bch_id", "bchstatus", 6},
      {"notifier", "al.bchs", "bch_id", "bchstatus", 7},
  }};
  for (const auto& s : stages) {
    if (s.name == name) return s;
  }
  throw Error("stage: unknown stage '" + name + "' (want identifier, assembler, distributor, presenter, "
              "archiver, publisher or notifier)");
}

std::vector<WorkItem> StageContext::lock_owned(pqxx::work& tx, const std::vector<WorkItem>& items) {
  if (items.empty()) return {};
  auto rows = exec_prepared_sql(tx, "al.lock_owned",
                                "SELECT id, attempt FROM al.lock_owned($1, $2::bigint[], $3::int[])", m_info.name,
                                literal_of(items, [](const WorkItem& i) { return i.id; }),
                                literal_of(items, [](const WorkItem& i) { return i.attempt; }));
  auto owned = read_items(rows);
  if (owned.size() < items.size()) {
    m_log.info("{}: {} of {} items no longer owned (timed out or changed by an admin); skipped", m_info.name,
               items.size() - owned.size(), items.size());
  }
  return owned;
}

int StageContext::finish(pqxx::work& tx, const std::vector<Outcome>& outcomes) {
  if (outcomes.empty()) return 0;
  std::string oks = "{";
  std::vector<std::string> errors;
  errors.reserve(outcomes.size());
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (i) oks += ',';
    oks += outcomes[i].ok ? 't' : 'f';
    errors.push_back(outcomes[i].error);
    if (outcomes[i].ok) {
      ++m_ok;
    } else {
      ++m_failed;
    }
  }
  oks += '}';
  auto rows = exec_prepared_sql(tx, "al.finish",
                                "SELECT al.finish($1, $2::bigint[], $3::int[], $4::boolean[], $5::text[])",
                                m_info.name, literal_of(outcomes, [](const Outcome& o) { return o.id; }),
                                literal_of(outcomes, [](const Outcome& o) { return o.attempt; }), oks,
                                text_array_literal(errors));
  return rows.empty() || rows[0][0].is_null() ? 0 : rows[0][0].as<int>();
}

void Stage::process(StageContext& ctx, const std::vector<WorkItem>& acked) {
  pqxx::work tx(ctx.db());
  exec_prepared_sql(tx, "al.actor", "SELECT set_config('al.actor', $1, true)", ctx.worker_name());
  auto owned = ctx.lock_owned(tx, acked);
  if (!owned.empty()) {
    auto outcomes = work(ctx, tx, owned);
    ctx.finish(tx, outcomes);
  }
  tx.commit();
}

}  // namespace al
