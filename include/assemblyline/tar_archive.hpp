// A batch's archive is one POSIX tar file (pax format) rather than a
// directory of files: a million-record job leaves two thousand archive files
// instead of a million, and writing one file costs the archiver one inode
// instead of five hundred. Any tar reads it back (`tar -xf`). libarchive
// writes it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct archive;  // libarchive's handle

namespace al {

/// Builds a tar archive in memory, one regular file entry at a time.
/// Throws al::Error when libarchive refuses an entry.
class TarArchive {
 public:
  TarArchive();
  TarArchive(TarArchive const&) = delete;
  TarArchive& operator=(TarArchive const&) = delete;
  ~TarArchive();

  /// Appends `bytes` as the file `name` (mode 0644, modified now).
  void add(std::string const& name, std::string_view bytes);

  /// Ends the archive and returns its bytes; the archive takes no more entries.
  [[nodiscard]] std::string finish();

 private:
  ::archive* m_archive;
  std::string m_bytes;
  bool m_finished = false;
};

/// The regular files of a tar archive, as (name, bytes) in archive order.
[[nodiscard]] std::vector<std::pair<std::string, std::string>> read_tar(std::string_view bytes);

}  // namespace al
