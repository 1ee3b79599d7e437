#include "assemblyline/tar_archive.hpp"

#include <gtest/gtest.h>

#include <string>

#include "assemblyline/error.hpp"

namespace {

TEST(TarArchive, ReadsBackEveryEntryInOrder) {
  std::string binary;
  for (int i = 0; i < 3000; ++i) binary += static_cast<char>(i % 256);  // NULs and high bytes, spans blocks
  const std::string long_name = std::string(150, 'n') + ".html";         // past ustar's 100 characters: pax
  al::TarArchive archive;
  archive.add("AL-7-1.html", "<p>Dear Person 1</p>");
  archive.add("empty.eml", "");
  archive.add("AL-7-2.pdf", binary);
  archive.add(long_name, "long");
  archive.add("manifest.json", "{}\n");
  const std::string bytes = archive.finish();

  ASSERT_GE(bytes.size(), 512u);
  EXPECT_EQ(bytes.compare(257, 5, "ustar"), 0) << "a POSIX tar header";
  EXPECT_EQ(bytes.size() % 512, 0u) << "whole tar blocks";

  const auto files = al::read_tar(bytes);
  ASSERT_EQ(files.size(), 5u);
  EXPECT_EQ(files[0], (std::pair<std::string, std::string>{"AL-7-1.html", "<p>Dear Person 1</p>"}));
  EXPECT_EQ(files[1], (std::pair<std::string, std::string>{"empty.eml", ""}));
  EXPECT_EQ(files[2].first, "AL-7-2.pdf");
  EXPECT_EQ(files[2].second, binary);
  EXPECT_EQ(files[3], (std::pair<std::string, std::string>{long_name, "long"}));
  EXPECT_EQ(files[4], (std::pair<std::string, std::string>{"manifest.json", "{}\n"}));
}

TEST(TarArchive, AnEmptyArchiveHasNoEntries) {
  al::TarArchive archive;
  EXPECT_TRUE(al::read_tar(archive.finish()).empty());
}

TEST(TarArchive, RefusesEntriesAfterItIsFinished) {
  al::TarArchive archive;
  archive.add("a.html", "a");
  (void)archive.finish();
  EXPECT_THROW(archive.add("b.html", "b"), al::Error);
}

TEST(TarArchive, ReadingSomethingElseIsAnError) {
  EXPECT_THROW((void)al::read_tar(std::string(1024, 'x')), al::Error);
  al::TarArchive archive;
  archive.add("a.html", std::string(2000, 'a'));
  const std::string bytes = archive.finish();
  EXPECT_THROW((void)al::read_tar(std::string_view(bytes).substr(0, 1024)), al::Error) << "a truncated archive";
}

}  // namespace
