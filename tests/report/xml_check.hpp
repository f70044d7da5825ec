// A small well-formedness check for the SVG and HTML the report layer writes: tags balance,
// attribute values are quoted, '&' starts an entity, '<' never appears in text or values.
// Returns "" when well-formed, else what is wrong and where.
#pragma once

#include <cstddef>
#include <set>
#include <string>
#include <vector>

namespace testing_xml {

inline bool entity_at(const std::string& text, std::size_t i) {
  static const char* const kEntities[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
  for (const char* entity : kEntities) {
    if (text.compare(i, std::char_traits<char>::length(entity), entity) == 0) return true;
  }
  return text.compare(i, 2, "&#") == 0 && text.find(';', i) != std::string::npos;
}

// `void_elements` close themselves without "/>" (HTML's meta, br, ...).
inline std::string check_well_formed(const std::string& text,
                                     const std::set<std::string>& void_elements = {}) {
  std::vector<std::string> open;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '&') {
      if (!entity_at(text, i)) return "bare '&' at offset " + std::to_string(i);
      ++i;
      continue;
    }
    if (c == '>') return "bare '>' in text at offset " + std::to_string(i);
    if (c != '<') {
      ++i;
      continue;
    }
    if (text.compare(i, 4, "<!--") == 0) {
      const std::size_t end = text.find("-->", i);
      if (end == std::string::npos) return "unclosed comment";
      i = end + 3;
      continue;
    }
    if (text.compare(i, 2, "<!") == 0 || text.compare(i, 2, "<?") == 0) {
      const std::size_t end = text.find('>', i);
      if (end == std::string::npos) return "unclosed declaration";
      i = end + 1;
      continue;
    }
    const bool closing = text.compare(i, 2, "</") == 0;
    std::size_t j = i + (closing ? 2 : 1);
    std::string name;
    while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) ||
                               text[j] == '-' || text[j] == ':')) {
      name += text[j++];
    }
    if (name.empty()) return "tag without a name at offset " + std::to_string(i);
    // Attributes: name="value" pairs up to '>' or '/>'.
    char quote = 0;
    bool self_closing = false;
    for (;; ++j) {
      if (j >= text.size()) return "unterminated tag <" + name + ">";
      const char d = text[j];
      if (quote) {
        if (d == quote) {
          quote = 0;
        } else if (d == '<') {
          return "'<' inside an attribute of <" + name + ">";
        } else if (d == '&' && !entity_at(text, j)) {
          return "bare '&' inside an attribute of <" + name + ">";
        }
        continue;
      }
      if (d == '"' || d == '\'') {
        if (text[j - 1] != '=') return "quote not after '=' in <" + name + ">";
        quote = d;
      } else if (d == '=') {
        if (j + 1 >= text.size() || (text[j + 1] != '"' && text[j + 1] != '\'')) {
          return "unquoted attribute value in <" + name + ">";
        }
      } else if (d == '<') {
        return "'<' inside tag <" + name + ">";
      } else if (d == '>') {
        self_closing = text[j - 1] == '/';
        break;
      }
    }
    if (closing) {
      if (open.empty() || open.back() != name) {
        return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) +
               ">";
      }
      open.pop_back();
    } else if (!self_closing && !void_elements.count(name)) {
      open.push_back(name);
    }
    i = j + 1;
  }
  if (!open.empty()) return "<" + open.back() + "> never closed";
  return "";
}

// The texts of every element <tag ... class="cls" ...>text</tag>, in order.
inline std::vector<std::string> texts_of_class(const std::string& text, const std::string& cls) {
  std::vector<std::string> out;
  const std::string needle = "class=\"" + cls + "\"";
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + 1)) {
    const std::size_t start = text.find('>', at) + 1;
    const std::size_t end = text.find('<', start);
    out.push_back(text.substr(start, end - start));
  }
  return out;
}

inline std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace testing_xml
