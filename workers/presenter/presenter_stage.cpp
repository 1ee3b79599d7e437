#include "presenter/presenter_stage.hpp"

#include <ctime>

#include <nlohmann/json.hpp>
#include <pqxx/stream_to>

#include "assemblyline/database.hpp"
#include "assemblyline/digest.hpp"
#include "assemblyline/html_text.hpp"
#include "assemblyline/mime_message.hpp"
#include "assemblyline/print_stream.hpp"
#include "assemblyline/template_renderer.hpp"

namespace al {

namespace {

std::string to_hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

struct Publication {
  std::int64_t rcp_id = 0;  // 0: a print stream of the batch
  std::string kind;
  std::string path;
  std::string bytes;
  int pages = 0;
  int sheets = 0;
  std::vector<std::int64_t> stream_rcps{};  // a print stream's recipients, in print order
};

// Whole letters into groups of at most `max_pages` pages (0: one group); a
// letter longer than that gets a group of its own. Returns [begin, end) pairs.
std::vector<std::pair<std::size_t, std::size_t>> split_by_pages(const std::vector<int>& letter_pages, int max_pages) {
  std::vector<std::pair<std::size_t, std::size_t>> groups;
  std::size_t begin = 0;
  int pages = 0;
  for (std::size_t i = 0; i < letter_pages.size(); ++i) {
    if (max_pages > 0 && i > begin && pages + letter_pages[i] > max_pages) {
      groups.emplace_back(begin, i);
      begin = i;
      pages = 0;
    }
    pages += letter_pages[i];
  }
  if (begin < letter_pages.size()) groups.emplace_back(begin, letter_pages.size());
  return groups;
}

// NULL in COPY for an empty value.
const char* or_null(const std::string& value) { return value.empty() ? nullptr : value.c_str(); }

// The batch's publications, with COPY: a third of the server time of an
// INSERT ... SELECT from one JSON parameter (500 file publications: 4.5 ms
// against 9.5-12 ms, rolled back, on an idle server; docs/internals.md).
void write_publications(pqxx::work& tx, std::int64_t bch_id, const std::vector<Publication>& publications) {
  pqxx::stream_to copy(tx, "al.pubs",
                       std::vector<std::string>{"bch_id", "rcp_id", "kind", "path", "content", "sha256", "bytes",
                                                "pages", "sheets", "stream_rcps"});
  for (const auto& p : publications) {
    const std::string rcp_id = p.rcp_id == 0 ? "" : std::to_string(p.rcp_id);
    const std::string pages = p.pages == 0 ? "" : std::to_string(p.pages);
    const std::string sheets = p.sheets == 0 ? "" : std::to_string(p.sheets);
    const std::string stream_rcps = p.stream_rcps.empty() ? "" : array_literal(p.stream_rcps);
    copy << std::make_tuple(bch_id, or_null(rcp_id), p.kind, or_null(p.path), "\\x" + to_hex(p.bytes),
                            sha256_hex(p.bytes), static_cast<long>(p.bytes.size()), or_null(pages), or_null(sheets),
                            or_null(stream_rcps));
  }
  copy.complete();
}

}  // namespace

std::vector<Outcome> PresenterStage::work(StageContext& ctx, pqxx::work& tx, const std::vector<WorkItem>& owned) {
  std::vector<Outcome> outcomes;
  for (const auto& batch : owned) outcomes.push_back(present_batch(ctx, tx, batch));
  return outcomes;
}

Outcome PresenterStage::present_batch(StageContext& ctx, pqxx::work& tx, const WorkItem& batch) {
  auto head = exec_prepared_sql(
      tx, "presenter.batch",
      "SELECT b.job_id, b.channel, coalesce(tp.subject, ''), coalesce(tp.sort_field, ''), j.template, "
      "       coalesce(tp.attach_pdf, false), coalesce(tp.reply_to, '') "
      "FROM al.bchs b JOIN al.jobs j ON j.job_id = b.job_id "
      "LEFT JOIN al.templates tp ON tp.name = j.template AND tp.version = j.template_version "
      "WHERE b.bch_id = $1",
      batch.id);
  const std::string job_id = head[0][0].as<std::string>();
  const std::string channel = head[0][1].as<std::string>();
  const std::string subject_template = head[0][2].as<std::string>();
  const std::string template_name = head[0][4].as<std::string>();
  const bool attach_pdf = head[0][5].as<bool>();
  const std::string reply_to = head[0][6].as<std::string>().empty() ? ctx.config().smtp_reply_to
                                                                     : head[0][6].as<std::string>();
  const std::string where = "job " + job_id + " batch " + std::to_string(batch.id) + ": present: ";

  auto recipients = exec_prepared_sql(
      tx, "presenter.recipients",
      "SELECT r.rcp_id, r.address, t.seq, t.data::text, d.html "
      "FROM al.rcps r JOIN al.trns t ON t.trn_id = r.trn_id LEFT JOIN al.documents d ON d.trn_id = r.trn_id "
      "WHERE r.bch_id = $1 AND r.rcpstatus = 411 "
      "ORDER BY CASE WHEN $2 = '' THEN NULL ELSE t.data->>$2 END, r.rcp_id",
      batch.id, head[0][3].as<std::string>());

  // Redone from scratch on a retry: publications are derived data.
  exec_prepared_sql(tx, "presenter.redo", "DELETE FROM al.pubs WHERE bch_id = $1", batch.id);

  std::vector<Publication> publications;
  nlohmann::json failures = nlohmann::json::array();
  std::vector<PrintLetter> letters;
  std::vector<std::int64_t> letter_rcps;  // parallel to letters
  const std::time_t now = std::time(nullptr);
  for (const auto& r : recipients) {
    const auto rcp_id = r[0].as<std::int64_t>();
    const std::string address = r[1].as<std::string>();
    const std::string record = "record " + r[2].as<std::string>();
    if (r[4].is_null()) {
      failures.push_back({{"rcp_id", rcp_id}, {"error", where + record + ": its document is missing"}});
      continue;
    }
    const std::string html = r[4].as<std::string>();
    if (channel == "print") {
      letters.push_back({address, html_to_text(html), "Job " + job_id + " / " + record});
      letter_rcps.push_back(rcp_id);
    } else if (channel == "file") {
      publications.push_back({rcp_id, "file", address, html});
    } else {
      try {
        const auto data = nlohmann::json::parse(r[3].as<std::string>());
        MailMessage message;
        message.from = ctx.config().smtp_from;
        message.to = address;
        message.subject = subject_template.empty() ? template_name : render_template(subject_template, data);
        message.reply_to = reply_to;
        message.html = html;
        if (attach_pdf) {
          // The document as a letter of its own, addressed to the e-mail address.
          PrintStreamResult pdf = build_print_stream({{address, html_to_text(html), "Job " + job_id + " / " + record}});
          message.attachments.push_back({template_name + ".pdf", "application/pdf", std::move(pdf.pdf)});
        }
        publications.push_back({rcp_id, "email", address, build_mime(message, now)});
      } catch (const std::exception& e) {
        failures.push_back({{"rcp_id", rcp_id}, {"error", where + record + ": " + e.what()}});
      }
    }
  }
  if (!letters.empty()) {
    try {
      PrintOptions options;
      options.duplex = ctx.config().print_duplex;
      PrintStreamResult whole = build_print_stream(letters, options);
      const auto groups = split_by_pages(whole.letter_pages, ctx.config().print_max_pages);
      for (const auto& [begin, end] : groups) {
        const auto from = static_cast<std::ptrdiff_t>(begin), to = static_cast<std::ptrdiff_t>(end);
        PrintStreamResult stream = groups.size() == 1 ? std::move(whole)
                                                      : build_print_stream({letters.begin() + from, letters.begin() + to},
                                                                           options);
        publications.push_back({0, "print_stream", "", std::move(stream.pdf), stream.pages, stream.sheets,
                                {letter_rcps.begin() + from, letter_rcps.begin() + to}});
      }
      int pages = 0, sheets = 0;
      for (const auto& p : publications) {
        if (p.kind != "print_stream") continue;
        pages += p.pages;
        sheets += p.sheets;
      }
      tx.exec_params("UPDATE al.bchs SET pages = $2, sheets = $3 WHERE bch_id = $1", batch.id, pages, sheets);
    } catch (const std::exception& e) {
      return {batch.id, batch.attempt, false, where + "print stream: " + e.what()};
    }
  }

  if (!publications.empty()) write_publications(tx, batch.id, publications);
  if (!failures.empty()) {
    tx.exec_params(
        "UPDATE al.rcps r SET rcpstatus = 641, status_changed_at = now(), error = f->>'error', "
        "                     post_status = false, post_error = f->>'error' "
        "FROM jsonb_array_elements($2::jsonb) f "
        "WHERE r.rcp_id = (f->>'rcp_id')::bigint AND r.bch_id = $1 AND r.rcpstatus = 411",
        batch.id, failures.dump());
    ctx.log().warn("{}{} recipients failed: first: {}", where, failures.size(),
                   failures[0]["error"].get<std::string>());
  }
  return {batch.id, batch.attempt, true, ""};
}

}  // namespace al
