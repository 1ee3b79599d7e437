// Plain-text rendering of an HTML document, for the text/plain alternative of
// an e-mail and for print letters made from HTML templates. No HTML library:
// a tolerant tag scanner that keeps the words and the block structure.
#pragma once

#include <string>

namespace al {

/// Strips tags; <br> and the ends of p, div, h1-h6, li and tr become line
/// breaks; <script> and <style> content is dropped; entities (&amp; &lt; &gt;
/// &quot; &#39; &nbsp;, a few Latin-1 names, &#NNN; and &#xHH;) are decoded
/// to UTF-8. Whitespace collapses as in a browser (except inside <pre>), and
/// runs of blank lines collapse to one.
[[nodiscard]] std::string html_to_text(std::string const& html);

}  // namespace al
