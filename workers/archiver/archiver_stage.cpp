#include "archiver/archiver_stage.hpp"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "assemblyline/atomic_file_set.hpp"
#include "assemblyline/database.hpp"
#include "assemblyline/digest.hpp"
#include "assemblyline/tar_archive.hpp"

namespace al {

namespace {

std::string join(const std::vector<std::string>& parts, const std::string& separator) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : separator) + part;
  return out;
}

/// {"<rcp_id>": value, ...}: what each recipient of an UPDATE takes, looked
/// up by its id (a print stream's number goes to each of its recipients).
std::string by_recipient(const std::vector<std::int64_t>& ids, const std::vector<std::string>& values) {
  nlohmann::json map = nlohmann::json::object();
  for (std::size_t i = 0; i < ids.size(); ++i) map[std::to_string(ids[i])] = values[i];
  return map.dump();
}

std::string extension_of(const std::string& kind) {
  if (kind == "print_stream") return ".pdf";
  if (kind == "email") return ".eml";
  return ".html";
}

}  // namespace

std::vector<Outcome> ArchiverStage::work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) {
  std::vector<Outcome> outcomes;
  for (const auto& batch : owned) outcomes.push_back(archive_batch(ctx, tx, batch));
  return outcomes;
}

Outcome ArchiverStage::archive_batch(StageContext& ctx, pqxx::work& tx, const WorkItem& batch) {
  auto head =
      exec_prepared_sql(tx, "archiver.batch", "SELECT job_id FROM al.bchs WHERE bch_id = $1", batch.id);
  const std::string job_id = head[0][0].as<std::string>();
  const std::string where = "job " + job_id + " batch " + std::to_string(batch.id) + ": archive: ";
  // One tar file per batch: archive/<job>/<batch>.tar (tar_archive.hpp says why).
  const std::filesystem::path file_path =
      std::filesystem::path(ctx.config().storage_archive_dir) / job_id / (std::to_string(batch.id) + ".tar");

  auto pubs = exec_prepared_sql(
      tx, "archiver.publications",
      "SELECT pub_id, rcp_id, kind, content, sha256, bytes, array_to_json(stream_rcps)::text FROM al.pubs "
      "WHERE bch_id = $1 ORDER BY pub_id",
      batch.id);
  nlohmann::json manifest = {{"job_id", std::stoll(job_id)}, {"bch_id", batch.id}, {"publications", nlohmann::json::array()}};
  // The archive panels to write: a recipient's own publication, and print
  // streams, whose numbers go to every recipient of the batch.
  std::vector<std::int64_t> archived_rcps, failed_rcps;
  std::vector<std::string> archived_numbers, failed_errors, stream_numbers, failed_streams;
  TarArchive archive;
  for (const auto& pub : pubs) {
    const auto pub_id = pub[0].as<std::int64_t>();
    const std::string kind = pub[2].as<std::string>();
    const pqxx::binarystring content(pub[3]);
    const std::string bytes = content.str();
    const std::string doc_number = "AL-" + job_id + "-" + std::to_string(pub_id);
    const std::string checksum = sha256_hex(bytes);
    // Whose document this is: the recipient's own, or the letters of a print stream.
    nlohmann::json rcp_ids = nlohmann::json::array();
    if (!pub[1].is_null()) rcp_ids.push_back(pub[1].as<std::int64_t>());
    if (!pub[6].is_null()) rcp_ids = nlohmann::json::parse(pub[6].as<std::string>());

    if (checksum != pub[4].as<std::string>()) {
      const std::string error = where + "publication " + std::to_string(pub_id) + " is corrupt: sha256 " + checksum +
                                " differs from " + pub[4].as<std::string>();
      if (rcp_ids.empty()) failed_streams.push_back(error);  // a stream of before sql/013: all of the batch
      for (const auto& id : rcp_ids) {
        failed_rcps.push_back(id.get<std::int64_t>());
        failed_errors.push_back(error);
      }
      continue;
    }
    const std::string file = doc_number + extension_of(kind);
    archive.add(file, bytes);
    manifest["publications"].push_back({{"pub_id", pub_id}, {"kind", kind}, {"file", file},
                                        {"sha256", checksum}, {"bytes", bytes.size()}, {"doc_number", doc_number},
                                        {"rcp_ids", rcp_ids}});
    if (rcp_ids.empty()) stream_numbers.push_back(doc_number);  // a stream of before sql/013: all of the batch
    for (const auto& id : rcp_ids) {
      archived_rcps.push_back(id.get<std::int64_t>());
      archived_numbers.push_back(doc_number);
    }
  }
  archive.add("manifest.json", manifest.dump(2) + "\n");
  write_file_atomically(file_path, archive.finish());  // a redone batch replaces its file whole

  // No join: each recipient takes its number from a JSON object by its id.
  // Joined to the arrays, the plan depended on al.rcps' statistics, which
  // while a job's batches are being filled still say that no recipient has
  // a batch: the planner then nested a loop over the batch's recipients and
  // unnested the array again for each (250 000 rows a batch of 500,
  // 80-300 ms). Joined on an OR of the two cases it was O(n²) as well.
  exec_prepared_sql(
      tx, "archiver.archived",
      "UPDATE al.rcps r SET archived_at = now(), doc_number = $3::jsonb->>r.rcp_id::text, archive_status = true, "
      "                     archive_error = NULL "
      "WHERE r.rcp_id = ANY ($2::bigint[]) AND r.bch_id = $1 AND r.rcpstatus = 411",
      batch.id, array_literal(archived_rcps), by_recipient(archived_rcps, archived_numbers));
  if (!stream_numbers.empty()) {
    tx.exec_params(
        "UPDATE al.rcps SET archived_at = now(), doc_number = $2, archive_status = true, archive_error = NULL "
        "WHERE bch_id = $1 AND rcpstatus = 411",
        batch.id, join(stream_numbers, ","));
  }
  if (!failed_rcps.empty()) {
    tx.exec_params(
        "UPDATE al.rcps r SET rcpstatus = 541, archive_status = false, archive_error = $3::jsonb->>r.rcp_id::text, "
        "                     error = $3::jsonb->>r.rcp_id::text, status_changed_at = now() "
        "WHERE r.rcp_id = ANY ($2::bigint[]) AND r.bch_id = $1 AND r.rcpstatus = 411",
        batch.id, array_literal(failed_rcps), by_recipient(failed_rcps, failed_errors));
  }
  if (!failed_streams.empty()) {
    tx.exec_params(
        "UPDATE al.rcps SET rcpstatus = 541, archive_status = false, archive_error = $2, error = $2, "
        "                   status_changed_at = now() "
        "WHERE bch_id = $1 AND rcpstatus = 411",
        batch.id, failed_streams.front());
  }
  const std::size_t failed = failed_rcps.size() + failed_streams.size();
  if (failed > 0) ctx.log().warn("{}{} publications failed their checksum", where, failed);
  ctx.log().debug("{}{} publications in {}", where, archived_rcps.size() + stream_numbers.size(), file_path.string());
  return {batch.id, batch.attempt, true, ""};
}

}  // namespace al
