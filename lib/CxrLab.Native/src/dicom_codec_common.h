// Checks and byte readers shared by the DICOM pixel codecs (dicom_codecs.cpp, dicom_jpeg_lossless.cpp, dicom_jpegls.cpp).
#pragma once
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace cxr::dicom {
// The caller's buffer must hold exactly rows x cols samples of bytes_per_sample bytes: every later write is bounded by it.
inline void check_output(int rows, int cols, int bytes_per_sample, int64_t out_bytes, const void* out) {
  if (rows <= 0 || cols <= 0) throw std::invalid_argument("image size must be positive");
  if (bytes_per_sample != 1 && bytes_per_sample != 2 && bytes_per_sample != 4)
    throw std::invalid_argument("bytes per sample must be 1, 2 or 4");
  if (!out || out_bytes != static_cast<int64_t>(rows) * cols * bytes_per_sample)
    throw std::invalid_argument("output buffer size does not match rows x cols x bytes per sample");
}

// A JPEG marker's name for messages: 0xFFxx.
inline std::string marker_name(int byte) {
  static const char digits[] = "0123456789ABCDEF";
  return std::string("0xFF") + digits[byte >> 4 & 15] + digits[byte & 15];
}

inline uint16_t read_u16be(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

inline uint64_t read_u64be(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

// One marker segment of a JPEG or JPEG-LS header (T.81 B.1.1.4, T.87 C.1): the marker and its parameters.
struct MarkerSegment {
  uint8_t marker;
  const uint8_t* body;
  size_t size;
};

// The header segment at data[p] of an n-byte frame, skipping fill bytes and the parameterless TEM/RSTn markers;
// p moves past it. A missing marker, a second SOI, an EOI or a length beyond the frame throws
// std::runtime_error("<codec>: ...").
inline MarkerSegment next_marker_segment(const uint8_t* data, size_t n, size_t& p, const char* codec) {
  auto fail = [codec](const std::string& message) { throw std::runtime_error(std::string(codec) + ": " + message); };
  while (true) {
    if (p >= n) fail("the stream ends before the start of scan (SOS)");
    if (data[p] != 0xFF) fail("byte " + std::to_string(p) + " is not a marker (corrupt header)");
    while (p < n && data[p] == 0xFF) ++p;  // fill bytes
    if (p >= n) fail("the stream ends before the start of scan (SOS)");
    const uint8_t marker = data[p++];
    if (marker == 0xD8) fail("a second SOI marker before the scan");
    if (marker == 0xD9) fail("end of image (EOI) before any scan");
    if (marker == 0x00) fail("a stuffed zero byte in the header (corrupt header)");
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // TEM, RSTn: no parameters
    if (p + 2 > n) fail("a marker segment is cut short");
    const size_t length = read_u16be(data + p);
    if (length < 2 || p + length > n)
      fail("marker " + marker_name(marker) + " declares " + std::to_string(length) + " bytes; the frame has " + std::to_string(n - p));
    const MarkerSegment segment{marker, data + p + 2, length - 2};
    p += length;
    return segment;
  }
}

// A single-component frame header (SOF3 for lossless JPEG, SOF55 for JPEG-LS: P, Y, X, Nf, then C, H/V, Tq).
struct FrameHeader {
  int precision, rows, cols, component;
};

inline FrameHeader read_frame_header(const MarkerSegment& sof, const char* codec, const char* sof_name) {
  auto fail = [codec](const std::string& message) { throw std::runtime_error(std::string(codec) + ": " + message); };
  if (sof.size < 6) fail(std::string("the frame header (") + sof_name + ") is too short");
  const int components = sof.body[5];
  if (sof.size != 6 + 3 * static_cast<size_t>(components))
    fail(std::string("the frame header (") + sof_name + ") length does not match its component count");
  if (components != 1) fail("the stream has " + std::to_string(components) + " components; this decoder takes 1 (grayscale)");
  const FrameHeader f{sof.body[0], read_u16be(sof.body + 1), read_u16be(sof.body + 3), sof.body[6]};
  if (f.precision < 2 || f.precision > 16) fail("sample precision " + std::to_string(f.precision) + " (" + codec + " allows 2..16)");
  return f;
}
}  // namespace cxr::dicom
