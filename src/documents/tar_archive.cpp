#include "assemblyline/tar_archive.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <ctime>
#include <memory>

#include "assemblyline/error.hpp"

namespace al {

namespace {

la_ssize_t append_to_string(struct archive*, void* client_data, void const* buffer, std::size_t length) {
  static_cast<std::string*>(client_data)->append(static_cast<char const*>(buffer), length);
  return static_cast<la_ssize_t>(length);
}

std::string problem(struct archive* archive) {
  char const* text = archive_error_string(archive);
  return text != nullptr ? text : "unknown libarchive error";
}

}  // namespace

TarArchive::TarArchive() : m_archive(archive_write_new()) {
  if (m_archive == nullptr) throw Error{"tar: archive_write_new failed (out of memory)"};
  // pax: names of any length; entries that fit ustar are written as plain ustar.
  // No padding to 10 KiB blocks: the file is written in one piece anyway.
  if (archive_write_set_format_pax_restricted(m_archive) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(m_archive, 1) != ARCHIVE_OK ||
      archive_write_open(m_archive, &m_bytes, nullptr, append_to_string, nullptr) != ARCHIVE_OK) {
    const std::string why = problem(m_archive);
    archive_write_free(m_archive);
    throw Error{"tar: cannot start an archive: " + why};
  }
}

TarArchive::~TarArchive() { archive_write_free(m_archive); }

void TarArchive::add(std::string const& name, std::string_view bytes) {
  if (m_finished) throw Error{"tar: entry " + name + " added after the archive was finished"};
  std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
  if (!entry) throw Error{"tar: archive_entry_new failed (out of memory)"};
  archive_entry_set_pathname(entry.get(), name.c_str());
  archive_entry_set_filetype(entry.get(), AE_IFREG);
  archive_entry_set_perm(entry.get(), 0644);
  archive_entry_set_size(entry.get(), static_cast<la_int64_t>(bytes.size()));
  archive_entry_set_mtime(entry.get(), std::time(nullptr), 0);
  if (archive_write_header(m_archive, entry.get()) != ARCHIVE_OK)
    throw Error{"tar: cannot add " + name + ": " + problem(m_archive)};
  if (!bytes.empty() && archive_write_data(m_archive, bytes.data(), bytes.size()) != static_cast<la_ssize_t>(bytes.size()))
    throw Error{"tar: cannot write " + name + ": " + problem(m_archive)};
}

std::string TarArchive::finish() {
  if (!m_finished && archive_write_close(m_archive) != ARCHIVE_OK)
    throw Error{"tar: cannot end the archive: " + problem(m_archive)};
  m_finished = true;
  return std::move(m_bytes);
}

std::vector<std::pair<std::string, std::string>> read_tar(std::string_view bytes) {
  std::unique_ptr<struct archive, decltype(&archive_read_free)> reader(archive_read_new(), archive_read_free);
  if (!reader) throw Error{"tar: archive_read_new failed (out of memory)"};
  archive_read_support_format_tar(reader.get());
  if (archive_read_open_memory(reader.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
    throw Error{"tar: not a tar archive: " + problem(reader.get())};
  std::vector<std::pair<std::string, std::string>> files;
  struct archive_entry* entry = nullptr;
  int status = ARCHIVE_OK;
  while ((status = archive_read_next_header(reader.get(), &entry)) == ARCHIVE_OK) {
    if (archive_entry_filetype(entry) != AE_IFREG) continue;
    std::string content(static_cast<std::size_t>(archive_entry_size(entry)), '\0');
    for (std::size_t read = 0; read < content.size();) {
      const la_ssize_t got = archive_read_data(reader.get(), content.data() + read, content.size() - read);
      if (got <= 0)
        throw Error{std::string("tar: truncated entry ") + archive_entry_pathname(entry) + ": " + problem(reader.get())};
      read += static_cast<std::size_t>(got);
    }
    files.emplace_back(archive_entry_pathname(entry), std::move(content));
  }
  if (status != ARCHIVE_EOF) throw Error{"tar: unreadable archive: " + problem(reader.get())};
  return files;
}

}  // namespace al
