#include "assemblyline/html_text.hpp"

#include <gtest/gtest.h>

namespace {

TEST(HtmlText, StripsTagsAndBreaksLinesAtBlocks) {
  struct Case {
    std::string html;
    std::string want;
  };
  Case const cases[] = {
      {"<p>Hello <b>World</b></p><p>Second</p>", "Hello World\n\nSecond"},
      {"line one<br>line two<br/>line three", "line one\nline two\nline three"},
      {"<div>a</div><div>b</div>", "a\nb"},
      {"<h1>Title</h1>text", "Title\n\ntext"},
      {"<ul><li>one</li><li>two</li></ul>", "- one\n- two"},
      {"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", "a b\nc"},
      {"  lots \n\n of   <i>space</i>  ", "lots of space"},
      {"<a href=\"x>y\" title='>'>link</a>", "link"},
      {"3 < 4 and 5 > 2", "3 < 4 and 5 > 2"},
      {"<pre>keep\n  this</pre>", "keep\n  this"},
  };
  for (auto const& c : cases) EXPECT_EQ(al::html_to_text(c.html), c.want) << "html: " << c.html;
}

TEST(HtmlText, DropsScriptStyleAndComments) {
  EXPECT_EQ(al::html_to_text("<style>p { color: red }</style><p>a<!-- hidden --></p>"
                             "<SCRIPT>if (a < b) alert('x')</SCRIPT>b"),
            "a\n\nb");
}

TEST(HtmlText, DecodesEntitiesToUtf8) {
  EXPECT_EQ(al::html_to_text("&amp; &lt; &gt; &quot; &#39; a&nbsp;b"), "& < > \" ' a b");
  EXPECT_EQ(al::html_to_text("M&#252;ller &#x141;&#xF3;d&#378; &#x6771;&#20140; &euro;"),
            "Müller Łódź 東京 €");
  EXPECT_EQ(al::html_to_text("&unknown; & &#xD800;"), "&unknown; & \xEF\xBF\xBD");
}

TEST(HtmlText, CollapsesRunsOfBlankLines) {
  EXPECT_EQ(al::html_to_text("a<br><br><br><br>b<p></p><p></p><p>c</p>"), "a\n\nb\n\nc");
}

}  // namespace
