#include "archiver/archiver_stage.hpp"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "assemblyline/digest.hpp"
#include "assemblyline/safe_path.hpp"

namespace al {

namespace {

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
  auto head = tx.exec_params("SELECT job_id FROM al.bchs WHERE bch_id = $1", batch.id);
  const std::string job_id = head[0][0].as<std::string>();
  const std::string where = "job " + job_id + " batch " + std::to_string(batch.id) + ": archive: ";
  const std::filesystem::path dir =
      std::filesystem::path(ctx.config().storage_archive_dir) / job_id / std::to_string(batch.id);

  auto pubs = tx.exec_params(
      "SELECT pub_id, rcp_id, kind, content, sha256, bytes FROM al.pubs WHERE bch_id = $1 ORDER BY pub_id", batch.id);
  nlohmann::json manifest = {{"job_id", std::stoll(job_id)}, {"bch_id", batch.id}, {"publications", nlohmann::json::array()}};
  nlohmann::json archived = nlohmann::json::array();  // per recipient panel updates
  nlohmann::json failed = nlohmann::json::array();
  AtomicFileSet files;  // one sync for the whole batch
  for (const auto& pub : pubs) {
    const auto pub_id = pub[0].as<std::int64_t>();
    const std::string kind = pub[2].as<std::string>();
    const pqxx::binarystring content(pub[3]);
    const std::string bytes = content.str();
    const std::string doc_number = "AL-" + job_id + "-" + std::to_string(pub_id);
    const std::string checksum = sha256_hex(bytes);
    nlohmann::json rcp_ids = nlohmann::json::array();
    if (!pub[1].is_null()) rcp_ids.push_back(pub[1].as<std::int64_t>());

    if (checksum != pub[4].as<std::string>()) {
      failed.push_back({{"pub_id", pub_id}, {"error", where + "publication " + std::to_string(pub_id) +
                                                          " is corrupt: sha256 " + checksum + " differs from " +
                                                          pub[4].as<std::string>()}});
      continue;
    }
    const std::string file = doc_number + extension_of(kind);
    files.add(dir / file, bytes);
    manifest["publications"].push_back({{"pub_id", pub_id}, {"kind", kind}, {"file", file},
                                        {"sha256", checksum}, {"bytes", bytes.size()}, {"doc_number", doc_number},
                                        {"rcp_ids", rcp_ids}});
    archived.push_back({{"pub_id", pub_id}, {"doc_number", doc_number}});
  }
  files.add(dir / "manifest.json", manifest.dump(2) + "\n");
  files.commit();

  // The archive panel: a print stream's number goes to every recipient in it.
  tx.exec_params(
      "UPDATE al.rcps r SET archived_at = now(), doc_number = a->>'doc_number', archive_status = true, "
      "                     archive_error = NULL "
      "FROM jsonb_array_elements($2::jsonb) a JOIN al.pubs p ON p.pub_id = (a->>'pub_id')::bigint "
      "WHERE r.bch_id = $1 AND r.rcpstatus = 411 AND (p.rcp_id = r.rcp_id OR p.rcp_id IS NULL)",
      batch.id, archived.dump());
  if (!failed.empty()) {
    tx.exec_params(
        "UPDATE al.rcps r SET rcpstatus = 541, archive_status = false, archive_error = f->>'error', "
        "                     error = f->>'error', status_changed_at = now() "
        "FROM jsonb_array_elements($2::jsonb) f JOIN al.pubs p ON p.pub_id = (f->>'pub_id')::bigint "
        "WHERE r.bch_id = $1 AND r.rcpstatus = 411 AND (p.rcp_id = r.rcp_id OR p.rcp_id IS NULL)",
        batch.id, failed.dump());
    ctx.log().warn("{}{} publications failed their checksum", where, failed.size());
  }
  ctx.log().debug("{}{} publications in {}", where, archived.size(), dir.string());
  return {batch.id, batch.attempt, true, ""};
}

}  // namespace al
