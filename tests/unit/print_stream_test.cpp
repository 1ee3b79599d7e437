#include "assemblyline/print_stream.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "assemblyline/error.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<al::PrintLetter> three_letters() {
  std::string long_body;
  for (int i = 0; i < 120; ++i)
    long_body +=
        "Paragraph " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog again and again.\n";
  return {
      {"Hans Müller\nHauptstraße 1\n10115 Berlin", "Sehr geehrter Herr Müller,\n\nvielen Dank.\n\nGrüße",
       "R-1"},
      {"Zofia Nowak\nul. Piotrkowska 1\n90-001 Łódź\nPolska", long_body, "R-2"},
      {"山田太郎\n東京都千代田区1-1\nJapan", std::string(2000, 'W'), "R-3"},
  };
}

/// Output of `command`, or "" when it could not run.
std::string run(std::string const& command) {
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    std::array<char, 4096> buf{};
    while (auto const n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
    ::pclose(pipe);
  }
  return out;
}

fs::path write_temp(std::string const& bytes, std::string const& name) {
  auto const path =
      fs::temp_directory_path() / ("al_print_" + std::to_string(::getpid()) + "_" + name + ".pdf");
  std::ofstream{path, std::ios::binary} << bytes;
  return path;
}

TEST(PrintStream, PutsEveryLetterIntoOnePdf) {
  auto const result = al::build_print_stream(three_letters(), {});
  ASSERT_GE(result.pdf.size(), 5u);
  EXPECT_EQ(result.pdf.substr(0, 5), "%PDF-");
  EXPECT_GE(result.pages, 4) << "three letters, the second one longer than a page";
  EXPECT_EQ(result.sheets, result.pages) << "simplex: one page per sheet";
  if (fs::exists("/usr/bin/pdfinfo")) {
    auto const path = write_temp(result.pdf, "all");
    auto const info = run("/usr/bin/pdfinfo " + path.string() + " 2>&1");
    fs::remove(path);
    auto const at = info.find("Pages:");
    ASSERT_NE(at, std::string::npos) << "pdfinfo said: " << info;
    EXPECT_EQ(std::stoi(info.substr(at + 6)), result.pages) << "pdfinfo said: " << info;
  }
}

TEST(PrintStream, StartsEachLetterOnAFreshSheetInDuplex) {
  std::vector<al::PrintLetter> const letters{{"A\nStreet 1\nTown", "one page", "1"},
                                             {"B\nStreet 2\nTown", "one page", "2"},
                                             {"C\nStreet 3\nTown", "one page", "3"}};
  al::PrintOptions opts;
  opts.duplex = true;
  auto const result = al::build_print_stream(letters, opts);
  EXPECT_EQ(result.pages, 6) << "each one-page letter padded with a blank back side";
  EXPECT_EQ(result.sheets, 3);
  auto const simplex = al::build_print_stream(letters, {});
  EXPECT_EQ(simplex.pages, 3);
  EXPECT_EQ(simplex.sheets, 3);
}

TEST(PrintStream, NumbersPagesPerLetterAndFallsBackToCp1252WithoutTheTrueTypeFont) {
  al::PrintOptions opts;
  opts.ttf_font_path = "/nonexistent/font.ttf";
  auto const result = al::build_print_stream(three_letters(), opts);
  EXPECT_EQ(result.pdf.substr(0, 5), "%PDF-");
  if (fs::exists("/usr/bin/pdftotext")) {
    auto const path = write_temp(result.pdf, "cp1252");
    auto const text = run("/usr/bin/pdftotext -enc UTF-8 " + path.string() + " - 2>/dev/null");
    fs::remove(path);
    EXPECT_NE(text.find("Hans Müller"), std::string::npos) << "CP1252 keeps German letters; got: " << text;
    EXPECT_NE(text.find("?ód?"), std::string::npos) << "characters outside CP1252 print as '?'";
    EXPECT_NE(text.find("Page 1 of 1"), std::string::npos);
    EXPECT_NE(text.find("Page 2 of "), std::string::npos) << "the long letter runs onto a second page";
  }
}

TEST(PrintStream, GivesTheSameBytesForTheSameLetters) {
  EXPECT_EQ(al::build_print_stream(three_letters(), {}).pdf, al::build_print_stream(three_letters(), {}).pdf);
}

TEST(PrintStream, RefusesAnAddressThatDoesNotFitTheWindow) {
  std::string address;
  for (int i = 0; i < 20; ++i) address += "Line " + std::to_string(i) + "\n";
  try {
    (void)al::build_print_stream({{address, "body", "R-9"}}, {});
    FAIL() << "want al::Error";
  } catch (al::Error const& e) {
    EXPECT_FALSE(e.retryable());
    EXPECT_NE(std::string{e.what()}.find("R-9"), std::string::npos) << "got: " << e.what();
  }
  EXPECT_THROW((void)al::build_print_stream({}, {}), al::Error);
}

}  // namespace
