#include "assemblyline/template_renderer.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "assemblyline/error.hpp"

namespace {

using nlohmann::json;

TEST(TemplateRenderer, FillsFieldsFromTheRecord) {
  auto const got = al::render_template("Dear {{name}}, you owe {{amount}} {{currency}}.",
                                       json{{"name", "Ada"}, {"amount", 12.5}, {"currency", "EUR"}});
  EXPECT_EQ(got, "Dear Ada, you owe 12.5 EUR.");
}

TEST(TemplateRenderer, PrintsNumbersWithoutTrailingZeros) {
  struct Case {
    json value;
    std::string want;
  };
  for (auto const& c : {Case{3.0, "3"}, Case{12.50, "12.5"}, Case{0.1, "0.1"}, Case{-7, "-7"},
                        Case{json(18446744073709551615ull), "18446744073709551615"}, Case{1e21, "1e+21"}}) {
    EXPECT_EQ(al::render_template("{{v}}", json{{"v", c.value}}), c.want) << "value " << c.value.dump();
  }
}

TEST(TemplateRenderer, EscapesHtmlInDoubleBracesButNotInTriple) {
  json const data{{"v", "<b>Tom & \"Jerry\"</b>"}};
  EXPECT_EQ(al::render_template("{{v}}", data), "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;");
  EXPECT_EQ(al::render_template("{{{v}}}", data), "<b>Tom & \"Jerry\"</b>");
  EXPECT_EQ(al::render_template("{{& v}}", data), "<b>Tom & \"Jerry\"</b>");
}

TEST(TemplateRenderer, RendersMissingAndNullFieldsAsNothing) {
  EXPECT_EQ(al::render_template("[{{missing}}][{{nothing}}]", json{{"nothing", nullptr}}), "[][]");
  EXPECT_EQ(al::render_template("[{{missing}}]", json{}), "[]");
}

TEST(TemplateRenderer, IteratesArraysAndNestedObjectsAndHonoursBooleans) {
  json const data{{"items", json::array({json{{"sku", "A1"}, {"qty", 2}}, json{{"sku", "B2"}, {"qty", 1}}})},
                  {"customer", {{"name", "Łódź GmbH"}}},
                  {"vip", true},
                  {"late", false}};
  auto const got = al::render_template(
      "{{customer.name}}:{{#items}} {{sku}}x{{qty}}{{/items}}{{#vip}} VIP{{/vip}}{{#late}} LATE{{/late}}"
      "{{^late}} on time{{/late}}",
      data);
  EXPECT_EQ(got, "Łódź GmbH: A1x2 B2x1 VIP on time");
}

TEST(TemplateRenderer, ThrowsTheParserMessageForAnUnclosedSection) {
  try {
    (void)al::render_template("{{#items}} never closed", json{{"items", json::array()}});
    FAIL() << "want al::Error for an unclosed section";
  } catch (al::Error const& e) {
    EXPECT_FALSE(e.retryable());
    EXPECT_NE(std::string{e.what()}.find("items"), std::string::npos) << "got: " << e.what();
  }
}

TEST(TemplateRenderer, ReportsSyntaxErrorsWithoutRendering) {
  EXPECT_EQ(al::template_syntax_error("Hello {{name}}"), "");
  EXPECT_NE(al::template_syntax_error("Hello {{name"), "");
  EXPECT_NE(al::template_syntax_error("{{#a}}{{/b}}"), "");
}

}  // namespace
