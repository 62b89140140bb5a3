#include "router/login_fold.h"

#include <cstdint>

namespace tandem::router {
namespace {

#include "router/login_fold_table.inc"

// Decodes the UTF-8 character at `in[*pos]` (strictly: no overlong forms,
// no surrogates, nothing above U+10FFFF); false for invalid input.
bool NextCodePoint(absl::string_view in, size_t* pos, uint32_t* cp) {
  const unsigned char lead = static_cast<unsigned char>(in[*pos]);
  int extra = 0;
  uint32_t min = 0;
  if (lead < 0x80) {
    *cp = lead;
    ++*pos;
    return true;
  } else if ((lead & 0xE0) == 0xC0) {
    extra = 1, min = 0x80, *cp = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    extra = 2, min = 0x800, *cp = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    extra = 3, min = 0x10000, *cp = lead & 0x07;
  } else {
    return false;
  }
  if (*pos + extra >= in.size()) return false;
  for (int i = 1; i <= extra; ++i) {
    const unsigned char c = static_cast<unsigned char>(in[*pos + i]);
    if ((c & 0xC0) != 0x80) return false;
    *cp = (*cp << 6) | (c & 0x3F);
  }
  if (*cp < min || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF)) {
    return false;
  }
  *pos += extra + 1;
  return true;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

uint32_t Weight(uint32_t cp) {
  if (cp > 0xFFFF) return 0xFFFD;
  const uint16_t* page = kPages[cp >> 8];
  return page == nullptr ? cp : page[cp & 0xFF];
}

}  // namespace

bool AppendFoldedLogin(absl::string_view login, std::string* out) {
  const size_t start = out->size();
  size_t pos = 0;
  while (pos < login.size()) {
    uint32_t cp = 0;
    if (!NextCodePoint(login, &pos, &cp)) return false;
    AppendUtf8(Weight(cp), out);
  }
  // PAD SPACE: trailing spaces do not count (only U+0020 weighs a space).
  while (out->size() > start && out->back() == ' ') out->pop_back();
  return true;
}

bool FoldLogin(absl::string_view login, std::string* out) {
  out->clear();
  return AppendFoldedLogin(login, out);
}

}  // namespace tandem::router
