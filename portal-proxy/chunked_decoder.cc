#include "portal-proxy/chunked_decoder.h"

#include <algorithm>
#include <cstring>

namespace tandem::proxy {
namespace {

constexpr HttpError kBadSize{400, "bad_chunk_size", "malformed chunk size"};
constexpr HttpError kSizeOverflow{400, "bad_chunk_size",
                                  "chunk size out of range"};
constexpr HttpError kBadChunkEnd{
    400, "bad_chunk_data", "chunk data not followed by CRLF (wrong size?)"};
constexpr HttpError kBadLineEnd{400, "bare_lf", "chunk lines must end in CRLF"};
constexpr HttpError kLineTooLong{400, "bad_chunk_size",
                                 "chunk size line too long"};
constexpr HttpError kBadTrailer{400, "bad_trailer", "malformed trailer field"};
constexpr HttpError kTrailerTooLarge{400, "bad_trailer",
                                     "trailer section too large"};
constexpr HttpError kTooLarge{413, "body_too_large",
                              "request body larger than the limit"};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool IsWhite(char c) { return c == ' ' || c == '\t'; }

// Skips a token at `line[*pos]`; false when there is none.
bool SkipToken(std::string_view line, size_t* pos) {
  const size_t start = *pos;
  while (*pos < line.size() && IsTokenChar(line[*pos])) ++*pos;
  return *pos > start;
}

// Skips a quoted-string at `line[*pos]` (RFC 9110 §5.6.4).
bool SkipQuoted(std::string_view line, size_t* pos) {
  if (*pos >= line.size() || line[*pos] != '"') return false;
  for (++*pos; *pos < line.size(); ++*pos) {
    const unsigned char c = static_cast<unsigned char>(line[*pos]);
    if (c == '"') {
      ++*pos;
      return true;
    }
    if (c == '\\') {
      if (++*pos >= line.size()) return false;
      continue;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return false;
}

// Checks `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`
// from `pos` to the end of `line`: whitespace only around ';' and '=',
// never at the end.
bool ValidExtensions(std::string_view line, size_t pos) {
  auto skip_white = [&] {
    while (pos < line.size() && IsWhite(line[pos])) ++pos;
  };
  while (pos < line.size()) {
    skip_white();
    if (pos == line.size() || line[pos] != ';') return false;
    ++pos;
    skip_white();
    if (!SkipToken(line, &pos)) return false;
    const size_t after_name = pos;
    skip_white();
    if (pos < line.size() && line[pos] == '=') {
      ++pos;
      skip_white();
      if (!SkipToken(line, &pos) && !SkipQuoted(line, &pos)) return false;
    } else {
      pos = after_name;
    }
  }
  return true;
}

// Fields that must not come in a trailer (RFC 9110 §6.5.1): framing,
// routing, connection control and credentials.
bool ForbiddenInTrailer(std::string_view name) {
  for (const char* forbidden :
       {"content-length", "transfer-encoding", "host", "connection",
        "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect",
        "authorization", "proxy-authorization", "cookie", "set-cookie"}) {
    if (EqualsIgnoreCase(name, forbidden)) return true;
  }
  return false;
}

// A trailer field line: a token name (not one forbidden in trailers), a
// colon, then field-value characters.
bool ValidTrailerField(std::string_view line) {
  size_t pos = 0;
  if (!SkipToken(line, &pos) || pos == line.size() || line[pos] != ':' ||
      ForbiddenInTrailer(line.substr(0, pos))) {
    return false;
  }
  for (++pos; pos < line.size(); ++pos) {
    const unsigned char c = static_cast<unsigned char>(line[pos]);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

}  // namespace

void ChunkedDecoder::Reset(uint64_t max_body_bytes) {
  max_body_bytes_ = max_body_bytes;
  state_ = State::kSize;
  remaining_ = 0;
  total_ = 0;
  trailer_bytes_ = 0;
}

ChunkedDecoder::Step ChunkedDecoder::Fail(const HttpError& error,
                                          size_t consumed) {
  state_ = State::kFailed;
  error_ = error;
  return Step{Status::kError, consumed, {}};
}

bool ChunkedDecoder::ParseSizeLine(std::string_view line, uint64_t* size) {
  size_t pos = 0;
  uint64_t value = 0;
  while (pos < line.size() && HexValue(line[pos]) >= 0) {
    if (value > (~uint64_t{0} >> 4)) {
      Fail(kSizeOverflow, 0);
      return false;
    }
    value = value * 16 + static_cast<uint64_t>(HexValue(line[pos]));
    ++pos;
  }
  if (pos == 0 || !ValidExtensions(line, pos)) {
    Fail(kBadSize, 0);
    return false;
  }
  *size = value;
  return true;
}

size_t ChunkedDecoder::FindLine(std::string_view in, size_t pos, size_t limit) {
  const void* found = pos < in.size()
                          ? std::memchr(in.data() + pos, '\n', in.size() - pos)
                          : nullptr;
  if (found == nullptr) {
    std::string_view tail = in.substr(pos);
    const size_t cr = tail.find('\r');
    if (cr != std::string_view::npos && cr + 1 < tail.size()) {
      Fail(kBadLineEnd, pos);
    } else if (tail.size() > limit) {
      Fail(state_ == State::kTrailer ? kTrailerTooLarge : kLineTooLong, pos);
    }
    return std::string_view::npos;
  }
  const size_t nl = static_cast<const char*>(found) - in.data();
  if (nl == pos || in[nl - 1] != '\r' ||
      in.substr(pos, nl - 1 - pos).find('\r') != std::string_view::npos) {
    Fail(kBadLineEnd, pos);
    return std::string_view::npos;
  }
  if (nl - pos > limit) {
    Fail(state_ == State::kTrailer ? kTrailerTooLarge : kLineTooLong, pos);
    return std::string_view::npos;
  }
  return nl;
}

ChunkedDecoder::Step ChunkedDecoder::Next(std::string_view in) {
  size_t pos = 0;
  for (;;) {
    switch (state_) {
      case State::kSize: {
        const size_t nl = FindLine(in, pos, kMaxLineBytes);
        if (state_ == State::kFailed) return Step{Status::kError, pos, {}};
        if (nl == std::string_view::npos)
          return Step{Status::kNeedMore, pos, {}};
        uint64_t size = 0;
        if (!ParseSizeLine(in.substr(pos, nl - 1 - pos), &size)) {
          return Step{Status::kError, pos, {}};
        }
        pos = nl + 1;
        if (size == 0) {
          state_ = State::kTrailer;
        } else if (size > max_body_bytes_ || total_ > max_body_bytes_ - size) {
          return Fail(kTooLarge, pos);
        } else {
          remaining_ = size;
          state_ = State::kData;
        }
        break;
      }
      case State::kData: {
        if (pos == in.size()) return Step{Status::kNeedMore, pos, {}};
        const size_t n = static_cast<size_t>(
            std::min<uint64_t>(remaining_, in.size() - pos));
        remaining_ -= n;
        total_ += n;
        if (remaining_ == 0) state_ = State::kDataEnd;
        return Step{Status::kData, pos + n, in.substr(pos, n)};
      }
      case State::kDataEnd: {
        if (in.size() - pos < 2) {
          if (in.size() - pos == 1 && in[pos] != '\r') {
            return Fail(kBadChunkEnd, pos);
          }
          return Step{Status::kNeedMore, pos, {}};
        }
        if (in[pos] != '\r' || in[pos + 1] != '\n') {
          return Fail(kBadChunkEnd, pos);
        }
        pos += 2;
        state_ = State::kSize;
        break;
      }
      case State::kTrailer: {
        const size_t nl = FindLine(in, pos, kMaxTrailerBytes - trailer_bytes_);
        if (state_ == State::kFailed) return Step{Status::kError, pos, {}};
        if (nl == std::string_view::npos)
          return Step{Status::kNeedMore, pos, {}};
        std::string_view line = in.substr(pos, nl - 1 - pos);
        pos = nl + 1;
        if (line.empty()) {
          state_ = State::kDone;
          return Step{Status::kDone, pos, {}};
        }
        trailer_bytes_ += line.size() + 2;
        if (trailer_bytes_ > kMaxTrailerBytes) {
          return Fail(kTrailerTooLarge, pos);
        }
        if (!ValidTrailerField(line)) return Fail(kBadTrailer, pos);
        break;
      }
      case State::kDone:
        return Step{Status::kDone, pos, {}};
      case State::kFailed:
        return Step{Status::kError, pos, {}};
    }
  }
}

}  // namespace tandem::proxy
