// JPEG Lossless (ITU-T T.81 process 14, Annex H: Huffman-coded prediction differences, SOF3) for single-component
// frames: DICOM transfer syntaxes 1.2.840.10008.1.2.4.57 (any predictor) and .70 (predictor 1, "SV1"), the usual
// lossless syntax of chest X-ray archives.
//
// Why our own: GDCM decodes these with the IJG 6b lossless patch at ~50 ms per 1024x1024 12-bit frame, one sample
// per Huffman lookup through a string stream; a damaged stream there ends in a grey-filled image (libjpeg
// warnings) rather than an error. Here: a table that decodes the Huffman code and its extra bits in one lookup,
// a 64-bit bit reader over the scan with byte stuffing removed up front, and one row loop per predictor.
// The samples are IJG's bit for bit: prediction and reconstruction modulo 2^16 (T.81 H.2.1), difference
// category 16 is 32768 with no extra bits, the point transform shifts the reconstructed value left by Pt.
//
// Safety: every size the stream declares must equal the DICOM header's (rows, columns, one component,
// precision within the allocated bytes) before anything is allocated or written; memory use is bounded by the
// stream's own length plus two rows. A stream that runs out of bits, a code that is in no table, a restart
// marker out of order — any damage — is an error with a reason, never a partly filled image.
#include "cxr_native.h"
#include "dicom_codec_common.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
using cxr::dicom::check_output;
using cxr::dicom::read_u16be;
using cxr::dicom::read_u64be;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error("JPEG Lossless: " + message); }


// Codes up to this many bits (and, when they fit too, the difference's extra bits) decode with one lookup.
constexpr int kLookupBits = 11;
// Lookup entry: bits 0-5 = bits to consume; bit 6 set = bits 8.. hold the difference itself (code and extra bits
// fit in the lookup), clear = bits 8.. hold the category SSSS (extra bits read separately). 0 = no code of at most
// kLookupBits bits starts here (longer code, or none).
constexpr int32_t kDifference = 64;

int32_t lookup_entry(int value, int bits, bool difference) {
  return static_cast<int32_t>(static_cast<uint32_t>(value) << 8) | (difference ? kDifference : 0) | bits;
}

// T.81 F.2.2.1 (EXTEND): `bits` extra bits r of category s as a signed difference.
int extend(int r, int s) { return r < (1 << (s - 1)) ? r - (1 << s) + 1 : r; }

struct HuffmanTable {
  bool defined = false;
  int32_t lookup[1 << kLookupBits];
  // Codes longer than kLookupBits: canonical decoding (T.81 F.2.2.3) by the largest code of each length.
  int32_t max_code[17];
  int32_t value_offset[17];  // code of length L + value_offset[L] = index into values
  uint8_t values[256];
  int count = 0;

  // counts[L - 1] codes of length L, then their values, as a DHT segment holds them.
  void build(const uint8_t* counts, const uint8_t* symbols, int total, int id) {
    std::fill(std::begin(lookup), std::end(lookup), 0);
    std::copy(symbols, symbols + total, values);
    count = total;
    int code = 0, k = 0;
    for (int length = 1; length <= 16; ++length) {
      const int n = counts[length - 1];
      value_offset[length] = k - code;
      for (int i = 0; i < n; ++i, ++code, ++k) {
        // As IJG: the codes of each length must fit in it, the all-ones code excluded (checked before it indexes the lookup).
        if (code + 1 >= 1 << length) fail("Huffman table " + std::to_string(id) + " has more codes than its code lengths allow");
        const int symbol = values[k];
        if (length > kLookupBits) continue;
        const int shift = kLookupBits - length;
        for (int j = 0; j < 1 << shift; ++j) {
          const int index = code << shift | j;
          int32_t entry;
          if (symbol == 0)
            entry = lookup_entry(0, length, true);
          else if (symbol == 16)  // H.1.2.2: category 16 is the difference 32768 with no extra bits
            entry = lookup_entry(32768, length, true);
          else if (symbol < 16 && length + symbol <= kLookupBits)
            entry = lookup_entry(extend(index >> (shift - symbol) & ((1 << symbol) - 1), symbol), length + symbol, true);
          else
            entry = lookup_entry(symbol, length, false);  // symbols above 16 fail when decoded
          lookup[index] = entry;
        }
      }
      max_code[length] = n ? code - 1 : -1;
      code <<= 1;
    }
    defined = true;
  }
};

// Reads the entropy-coded bits of one restart interval, most significant first, from the scan with stuffing
// removed. The buffer holds 8 zero bytes past its end so an 8-byte load never leaves it; reading beyond the
// interval's bits is detected afterwards (consumed() > bits), never by a check per sample.
struct BitReader {
  const uint8_t* data;
  size_t loadable;  // bytes from data that may start an 8-byte load (padding included after them)
  size_t pos = 0;
  uint64_t buffer = 0;
  int count = 0;

  void refill() {
    const uint64_t word = pos <= loadable ? read_u64be(data + pos) : 0;
    buffer |= word >> count;
    pos += (63 - count) >> 3;
    count |= 56;
  }
  uint64_t consumed() const { return static_cast<uint64_t>(pos) * 8 - static_cast<uint64_t>(count); }
};

[[gnu::noinline]] int decode_difference_slow(BitReader& b, const HuffmanTable& t, int32_t entry) {
  int length, symbol;
  if (entry != 0) {
    length = entry & 63;
    symbol = entry >> 8;
  } else {
    const uint32_t code16 = static_cast<uint32_t>(b.buffer >> 48);
    length = kLookupBits + 1;
    while (length <= 16 && static_cast<int32_t>(code16 >> (16 - length)) > t.max_code[length]) ++length;
    if (length > 16) fail("corrupt entropy-coded data (a bit sequence that is no Huffman code of the table)");
    const int index = static_cast<int>(code16 >> (16 - length)) + t.value_offset[length];
    if (index < 0 || index >= t.count) fail("corrupt entropy-coded data (a bit sequence that is no Huffman code of the table)");
    symbol = t.values[index];
  }
  b.buffer <<= length;
  b.count -= length;
  if (symbol == 0) return 0;
  if (symbol == 16) return 32768;
  if (symbol > 16) fail("Huffman table value " + std::to_string(symbol) + " is no difference category (0..16)");
  const int r = static_cast<int>(b.buffer >> (64 - symbol));
  b.buffer <<= symbol;
  b.count -= symbol;
  return extend(r, symbol);
}

// One difference (T.81 H.1.2.2). The reader holds at least 32 bits after the refill: a code (<= 16) plus its extra
// bits (<= 15) fit.
inline int decode_difference(BitReader& b, const HuffmanTable& t) {
  if (b.count < 32) b.refill();
  const int32_t entry = t.lookup[b.buffer >> (64 - kLookupBits)];
  if (__builtin_expect((entry & kDifference) != 0, 1)) {
    const int n = entry & 63;
    b.buffer <<= n;
    b.count -= n;
    return entry >> 8;
  }
  return decode_difference_slow(b, t, entry);
}

// T.81 Table H.1, in int arithmetic on reconstructed samples (each < 2^16) as IJG computes it.
template <int P>
inline int predict(int ra, int rb, int rc) {
  if constexpr (P == 1) return ra;
  if constexpr (P == 2) return rb;
  if constexpr (P == 3) return rc;
  if constexpr (P == 4) return ra + rb - rc;
  if constexpr (P == 5) return ra + ((rb - rc) >> 1);
  if constexpr (P == 6) return rb + ((ra - rc) >> 1);
  if constexpr (P == 7) return (ra + rb) >> 1;
}

// The first row of the scan or of a restart interval: the first sample is predicted by 2^(P - Pt - 1), the others by Ra.
inline void decode_first_row(BitReader& reader, const HuffmanTable& t, int initial, uint16_t* cur, int cols) {
  BitReader b = reader;
  int ra = (decode_difference(b, t) + initial) & 0xFFFF;
  cur[0] = static_cast<uint16_t>(ra);
  for (int x = 1; x < cols; ++x) {
    ra = (decode_difference(b, t) + ra) & 0xFFFF;
    cur[x] = static_cast<uint16_t>(ra);
  }
  reader = b;
}

// Any other row: the first sample is predicted by Rb (the sample above), the others by predictor P.
template <int P>
inline void decode_row(BitReader& reader, const HuffmanTable& t, const uint16_t* prev, uint16_t* cur, int cols) {
  BitReader b = reader;
  int rb = prev[0];
  int ra = (decode_difference(b, t) + rb) & 0xFFFF;
  cur[0] = static_cast<uint16_t>(ra);
  for (int x = 1; x < cols; ++x) {
    const int rc = rb;
    rb = prev[x];
    ra = (decode_difference(b, t) + predict<P>(ra, rb, rc)) & 0xFFFF;
    cur[x] = static_cast<uint16_t>(ra);
  }
  reader = b;
}

struct Frame {
  int precision = 0, rows = 0, cols = 0, component = -1;
  int predictor = 0, point_transform = 0, table = 0;
  int restart_interval = 0;  // samples (MCUs) per interval; 0 = none
};

// The scan's entropy-coded data with stuffing (FF 00) and fill bytes removed, split at RSTn markers; it ends at
// any other marker (EOI) or at the end of the frame. Returns the end of each restart interval's bytes.
// At most `intervals` restart markers are accepted (one after the last interval is harmless).
std::vector<size_t> unstuff(const uint8_t* in, size_t n, std::vector<uint8_t>& out, bool restarts, size_t intervals) {
  out.assign(n + 8, 0);
  std::vector<size_t> ends;
  size_t i = 0, o = 0;
  while (i < n) {
    const auto* ff = static_cast<const uint8_t*>(std::memchr(in + i, 0xFF, n - i));
    const size_t run = ff ? static_cast<size_t>(ff - (in + i)) : n - i;
    std::memcpy(out.data() + o, in + i, run);
    o += run;
    i += run;
    if (!ff) break;
    size_t j = i + 1;
    while (j < n && in[j] == 0xFF) ++j;  // fill bytes; FF FF 00 is one stuffed FF, as IJG reads it
    if (j >= n) break;
    const uint8_t marker = in[j];
    if (marker == 0x00) {
      out[o++] = 0xFF;
      i = j + 1;
    } else if (marker >= 0xD0 && marker <= 0xD7) {
      const size_t expected = ends.size() % 8;
      if (!restarts) fail("a restart marker (RST) in a scan without a restart interval (DRI)");
      if (ends.size() >= intervals) fail("more restart markers than the image has restart intervals");
      if (marker != 0xD0 + expected)
        fail("restart marker RST" + std::to_string(marker - 0xD0) + " where RST" + std::to_string(expected) +
             " belongs (corrupt or reordered data)");
      ends.push_back(o);
      i = j + 1;
    } else {
      break;  // EOI or another marker: the scan ends
    }
  }
  ends.push_back(o);
  return ends;
}

template <int P>
void decode_scan(const Frame& f, const HuffmanTable& table, const uint8_t* data, const std::vector<size_t>& ends,
                 int bytes_per_sample, uint8_t* out) {
  const int cols = f.cols;
  const int rows_per_interval = f.restart_interval ? f.restart_interval / cols : f.rows;
  const size_t intervals = (static_cast<size_t>(f.rows) + rows_per_interval - 1) / rows_per_interval;
  if (ends.size() < intervals)
    fail("the scan ends after " + std::to_string(ends.size()) + " of its " + std::to_string(intervals) +
         " restart intervals (truncated stream?)");
  // 16-bit output without point transform: rows decode in place and the row above is read back from the output.
  // Otherwise two rows of reconstructed samples, stored shifted (and cut to 8 bits) row by row.
  const bool in_place = bytes_per_sample == 2 && f.point_transform == 0;
  std::vector<uint16_t> scratch(in_place ? 0 : 2 * static_cast<size_t>(cols));
  auto* out16 = reinterpret_cast<uint16_t*>(out);
  const int initial = 1 << (f.precision - f.point_transform - 1);
  const size_t total = ends.back();
  for (size_t k = 0; k < intervals; ++k) {
    const size_t begin = k == 0 ? 0 : ends[k - 1];
    BitReader reader{data + begin, total - begin};
    const uint64_t available = static_cast<uint64_t>(ends[k] - begin) * 8;
    const int first = static_cast<int>(k) * rows_per_interval;
    const int last = std::min(f.rows, first + rows_per_interval);
    for (int y = first; y < last; ++y) {
      uint16_t* cur = in_place ? out16 + static_cast<size_t>(y) * cols : scratch.data() + (y & 1) * static_cast<size_t>(cols);
      const uint16_t* prev = in_place ? cur - cols : scratch.data() + ((y + 1) & 1) * static_cast<size_t>(cols);
      if (y == first)
        decode_first_row(reader, table, initial, cur, cols);
      else
        decode_row<P>(reader, table, prev, cur, cols);
      if (reader.consumed() > available)
        fail("the entropy-coded data " + (f.restart_interval ? "of restart interval " + std::to_string(k) + " " : std::string()) +
             "ends inside row " + std::to_string(y) + " of " + std::to_string(f.rows) + " (truncated or corrupt stream)");
      if (in_place) continue;
      const int pt = f.point_transform;
      if (bytes_per_sample == 2) {
        uint16_t* row = out16 + static_cast<size_t>(y) * cols;
        for (int x = 0; x < cols; ++x) row[x] = static_cast<uint16_t>(cur[x] << pt);
      } else {
        uint8_t* row = out + static_cast<size_t>(y) * cols;
        for (int x = 0; x < cols; ++x) row[x] = static_cast<uint8_t>(cur[x] << pt);
      }
    }
  }
}

void decode(const uint8_t* data, size_t n, int rows, int cols, int bytes_per_sample, uint8_t* out) {
  if (!data || n < 4 || data[0] != 0xFF || data[1] != 0xD8) fail("the frame does not start with an SOI marker");
  Frame f;
  bool have_frame = false;
  std::unique_ptr<HuffmanTable[]> tables(new HuffmanTable[4]);
  size_t p = 2;
  while (true) {
    const auto segment = cxr::dicom::next_marker_segment(data, n, p, "JPEG Lossless");
    const uint8_t marker = segment.marker;
    const uint8_t* body = segment.body;
    const size_t size = segment.size;
    if (marker == 0xC3) {
      if (have_frame) fail("a second frame header (SOF)");
      const auto header = cxr::dicom::read_frame_header(segment, "JPEG Lossless", "SOF3");
      f.precision = header.precision;
      f.rows = header.rows;
      f.cols = header.cols;
      f.component = header.component;
      if (f.rows == 0) fail("the frame header gives no height (a DNL marker); DICOM frames state it");
      if (f.rows != rows || f.cols != cols)
        fail("the stream is " + std::to_string(f.cols) + "x" + std::to_string(f.rows) + "; the DICOM header says " + std::to_string(cols) +
             "x" + std::to_string(rows));
      if (f.precision > 8 * bytes_per_sample)
        fail("the stream holds " + std::to_string(f.precision) + "-bit samples; the DICOM header allocates " +
             std::to_string(8 * bytes_per_sample));
      have_frame = true;
    } else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      fail("the frame is SOF" + std::to_string(marker - 0xC0) + ", not Huffman-coded lossless (SOF3)");
    } else if (marker == 0xC4) {
      size_t q = 0;
      while (q < size) {
        const int table_class = body[q] >> 4, id = body[q] & 15;
        if (table_class > 1 || id > 3) fail("Huffman table class " + std::to_string(table_class) + " id " + std::to_string(id) + " (DHT)");
        if (q + 17 > size) fail("the Huffman table segment (DHT) is cut short");
        const uint8_t* counts = body + q + 1;
        int total = 0;
        for (int i = 0; i < 16; ++i) total += counts[i];
        if (total > 256 || q + 17 + total > size) fail("the Huffman table segment (DHT) declares more values than it holds");
        if (table_class == 0) tables[id].build(counts, body + q + 17, total, id);  // lossless uses the DC class only
        q += 17 + total;
      }
    } else if (marker == 0xDD) {
      if (size != 2) fail("the restart interval segment (DRI) is not 2 bytes");
      f.restart_interval = read_u16be(body);
    } else if (marker == 0xDA) {
      if (!have_frame) fail("start of scan (SOS) before the frame header (SOF3)");
      if (size < 1 || size != 4 + 2 * static_cast<size_t>(body[0])) fail("the scan header (SOS) is malformed");
      if (body[0] != 1) fail("the scan has " + std::to_string(body[0]) + " components; the frame has 1");
      if (body[1] != f.component) fail("the scan names component " + std::to_string(body[1]) + "; the frame has " + std::to_string(f.component));
      f.table = body[2] >> 4;
      f.predictor = body[3];
      const int se = body[4], ah = body[5] >> 4;
      f.point_transform = body[5] & 15;
      if (f.predictor < 1 || f.predictor > 7 || se != 0 || ah != 0)
        fail("scan parameters Ss=" + std::to_string(f.predictor) + " Se=" + std::to_string(se) + " Ah=" + std::to_string(ah) +
             " are not lossless (predictor 1..7, Se = Ah = 0)");
      if (f.point_transform >= f.precision)
        fail("point transform " + std::to_string(f.point_transform) + " for " + std::to_string(f.precision) + "-bit samples");
      if (f.table > 3 || !tables[f.table].defined) fail("the scan uses Huffman table " + std::to_string(f.table) + ", which is not defined");
      if (f.restart_interval % f.cols != 0)
        fail("restart interval of " + std::to_string(f.restart_interval) + " samples is not a whole number of rows of " +
             std::to_string(f.cols));
      break;
    }
    // APPn, COM, DQT, DAC, DNL and the like carry nothing a lossless single-component frame needs.
  }
  const size_t rows_per_interval = f.restart_interval ? static_cast<size_t>(f.restart_interval / f.cols) : static_cast<size_t>(f.rows);
  const size_t intervals = (static_cast<size_t>(f.rows) + rows_per_interval - 1) / rows_per_interval;
  std::vector<uint8_t> scan;
  const auto ends = unstuff(data + p, n - p, scan, f.restart_interval != 0, intervals);
  const HuffmanTable& table = tables[f.table];
  switch (f.predictor) {
    case 1: decode_scan<1>(f, table, scan.data(), ends, bytes_per_sample, out); break;
    case 2: decode_scan<2>(f, table, scan.data(), ends, bytes_per_sample, out); break;
    case 3: decode_scan<3>(f, table, scan.data(), ends, bytes_per_sample, out); break;
    case 4: decode_scan<4>(f, table, scan.data(), ends, bytes_per_sample, out); break;
    case 5: decode_scan<5>(f, table, scan.data(), ends, bytes_per_sample, out); break;
    case 6: decode_scan<6>(f, table, scan.data(), ends, bytes_per_sample, out); break;
    default: decode_scan<7>(f, table, scan.data(), ends, bytes_per_sample, out); break;
  }
}
}  // namespace

// Decodes one JPEG Lossless (process 14, SOF3) frame of a single-sample image into little-endian samples:
// rows x cols x bytes_per_sample (1 or 2) bytes at out. The stream's size must be the header's, its precision must
// fit the allocated bytes; samples are the reconstructed values shifted left by the point transform, modulo 2^(8 x bytes).
CXR_API int cxr_dicom_jpeg_lossless_decode(const uint8_t* data, int64_t length, int rows, int cols, int bytes_per_sample,
                                           uint8_t* out, int64_t out_bytes) {
  CXR_TRY(-1, {
    check_output(rows, cols, bytes_per_sample, out_bytes, out);
    if (bytes_per_sample == 4) fail("lossless JPEG holds at most 16-bit samples; the header allocates 32");
    if (length < 0) fail("negative frame length");
    decode(data, static_cast<size_t>(length), rows, cols, bytes_per_sample, out);
    return 0;
  })
}
