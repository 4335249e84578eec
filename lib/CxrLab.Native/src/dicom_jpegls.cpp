// JPEG-LS (ITU-T T.87 | ISO/IEC 14495-1, LOCO-I) for single-component frames: DICOM transfer syntaxes
// 1.2.840.10008.1.2.4.80 (lossless) and .81 (near-lossless), 2..16-bit samples.
//
// Why our own: CharLS 2.4 (Debian's, the library GDCM links) decodes a 1024x1024 12-bit noisy frame in ~90 ms. Here:
// the context state in one flat array of {A, B, C, N}, a 64-bit bit reader whose refill takes 8 bytes at once when
// none is 0xFF (JPEG-LS keeps only 7 bits of the byte after an 0xFF), the Golomb unary part by counting leading
// zeros, the gradient quantisation by a table, and one row loop over two line buffers with the T.87 A.2.1 edges.
// The samples are CharLS's bit for bit (T.87 A.4-A.7: MED prediction, bias correction, error mapping with the
// k = 0 special case, modulo reduction, run mode with J[], run interruption samples, restart intervals).
//
// What stays with CharLS (cxr_dicom_jpegls_own_supports answers 0, cxr_dicom_jpegls_decode_own returns 1, and the
// caller decodes with cxr_dicom_jpegls_decode):
// mapping tables (LSE ids 2 and 3, or a scan naming a table), oversize image dimensions (LSE id 4), a point
// transform (SOS Al != 0) and the JPEG-LS part 2 frame (SOF57). None of these is seen in DICOM archives.
//
// Safety: the stream's size, component count and precision must agree with the DICOM header before anything is
// written; memory use is two lines plus a gradient table of at most 2^17 bytes. A unary code longer than LIMIT, a
// stream that ends inside a row, a restart marker out of order, a context overflow — any damage — is an error with
// a reason, never a partly filled image.
#include "cxr_native.h"
#include "dicom_codec_common.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
using cxr::dicom::check_output;
using cxr::dicom::read_u16be;
using cxr::dicom::read_u64be;

[[noreturn]] void fail(const std::string& message) { throw std::runtime_error("JPEG-LS: " + message); }


// T.87 A.7.1.2: run lengths coded by a '1' per 2^J[RUNindex] samples.
constexpr int kJ[32] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15};

// A and B beyond this are damage (CharLS's bound too); it keeps every sum below in 32 bits.
constexpr int32_t kContextLimit = 1 << 24;
// No valid mapped error exceeds 2 x 65535; a larger one is damage (and would overflow B's update).
constexpr int32_t kMaxMapped = 2 * 65536;

// The coding parameters of T.87 C.2.4.1 and A.2.
struct Params {
  int maxval = 0, near = 0, t1 = 0, t2 = 0, t3 = 0, reset = 0;
  int range = 0, qbpp = 0, limit = 0;
};

int bit_width(int v) { return v <= 0 ? 0 : 32 - __builtin_clz(static_cast<unsigned>(v)); }

// T.87 C.2.4.1.1: the default thresholds for MAXVAL and NEAR.
void default_thresholds(int maxval, int near, int& t1, int& t2, int& t3) {
  auto clamp = [maxval](int i, int j) { return i > maxval || i < j ? j : i; };
  if (maxval >= 128) {
    const int factor = (std::min(maxval, 4095) + 128) / 256;
    t1 = clamp(factor * (3 - 2) + 2 + 3 * near, near + 1);
    t2 = clamp(factor * (7 - 3) + 3 + 5 * near, t1);
    t3 = clamp(factor * (21 - 4) + 4 + 7 * near, t2);
  } else {
    const int factor = 256 / (maxval + 1);
    t1 = clamp(std::max(2, 3 / factor + 3 * near), near + 1);
    t2 = clamp(std::max(3, 7 / factor + 5 * near), t1);
    t3 = clamp(std::max(4, 21 / factor + 7 * near), t2);
  }
}

// Reads one restart interval's entropy-coded bits, most significant first. [data, end) holds no marker (a 0xFF
// there is followed by a byte below 0x80, whose 7 low bits are data). Past the end it supplies zero bits and counts
// them in `padding`: bits read beyond the data are detected afterwards (padding > count), never per sample. Bits of
// the buffer below `count` are always zero.
struct BitReader {
  const uint8_t* p;
  const uint8_t* end;
  uint64_t buffer = 0;
  int count = 0;
  bool after_ff = false;
  uint64_t padding = 0;

  static bool has_ff(uint64_t w) {
    const uint64_t x = ~w;
    return ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) != 0;
  }

  void refill() {
    if (end - p >= 8 && !after_ff) {
      const uint64_t word = read_u64be(p);
      if (!has_ff(word)) {
        const int bytes = (63 - count) >> 3;
        const int filled = count + 8 * bytes;
        buffer |= (word >> count) & (~0ULL << (64 - filled));
        p += bytes;
        count = filled;
        return;
      }
    }
    *this = refill_slow(*this);
  }

  // By value, so the hot loop's reader never has its address taken and stays in registers.
  [[gnu::noinline]] static BitReader refill_slow(BitReader b) {
    while (b.count <= 56) {
      if (b.p >= b.end) {
        b.padding += static_cast<uint64_t>(64 - b.count);
        b.count = 64;
        break;
      }
      const uint64_t byte = *b.p++;
      if (b.after_ff) {
        b.buffer |= byte << (57 - b.count);
        b.count += 7;
      } else {
        b.buffer |= byte << (56 - b.count);
        b.count += 8;
      }
      b.after_ff = byte == 0xFF;
    }
    return b;
  }

  // n <= 32 bits as an unsigned value.
  int bits(int n) {
    if (n == 0) return 0;
    if (count < n) refill();
    const int v = static_cast<int>(buffer >> (64 - n));
    buffer <<= n;
    count -= n;
    return v;
  }

  int bit() {
    if (count == 0) refill();
    const int v = static_cast<int>(buffer >> 63);
    buffer <<= 1;
    count -= 1;
    return v;
  }

  bool overrun() const { return padding > static_cast<uint64_t>(count); }
};

// T.87 A.5.3 (decoding side): a Golomb code of parameter k limited to `limit` bits, with the escape code
// (LIMIT - qbpp - 1 zeros, a one, then the value minus one in qbpp bits).
[[noreturn]] void fail_code(const BitReader& b, const char* what) {
  if (b.padding > 0) fail("the entropy-coded data ends inside a line (truncated or corrupt stream)");
  fail(std::string("corrupt entropy-coded data (") + what + ")");
}

[[gnu::noinline]] BitReader decode_value_slow(BitReader b, int k, int limit, int qbpp, int* result) {
  const int escape = limit - qbpp - 1;
  int q = 0;
  while (true) {
    if (b.count == 0) b.refill();
    if (b.buffer == 0) {
      q += b.count;
      b.count = 0;
      if (q > escape) fail_code(b, "a Golomb code longer than LIMIT");
      continue;
    }
    const int z = __builtin_clzll(b.buffer);
    q += z;
    b.buffer = (b.buffer << z) << 1;
    b.count -= z + 1;
    break;
  }
  if (q > escape) fail_code(b, "a Golomb code longer than LIMIT");
  int value;
  if (q == escape) {
    value = b.bits(qbpp) + 1;
  } else {
    if (k > 24) fail("corrupt entropy-coded data (Golomb parameter out of range)");
    value = static_cast<int>((static_cast<int64_t>(q) << k) + b.bits(k));
  }
  if (value > kMaxMapped) fail("corrupt entropy-coded data (an error value beyond the sample range)");
  *result = value;
  return b;
}

// Bounded: k <= 24 (A < 2^24, N >= 1) and q < escape <= 47 keep the value below 2^30. Callers whose use of the value
// could overflow (near-lossless B update) check it against kMaxMapped themselves.
inline int decode_value(BitReader& b, int k, int limit, int qbpp) {
  if (b.count < 32) b.refill();
  if (__builtin_expect(b.buffer != 0, 1)) {
    const int q = __builtin_clzll(b.buffer);
    const int total = q + 1 + k;
    if (__builtin_expect(total < b.count && q < limit - qbpp - 1, 1)) {
      // The code's one and its k bits are the top k + 1 bits after the zeros.
      const int value = (q << k) + static_cast<int>((b.buffer << q) >> (63 - k)) - (1 << k);
      b.buffer <<= total;
      b.count -= total;
      return value;
    }
  }
  int value;
  b = decode_value_slow(b, k, limit, qbpp, &value);
  return value;
}

struct Context {
  int32_t a, b, c, n;
};

struct RunContext {
  int32_t a, n, nn;
};

struct State {
  Context regular[365];
  RunContext run[2];
  int run_index = 0;

  void reset(const Params& p) {
    const int32_t a = std::max(2, (p.range + 32) / 64);
    for (auto& c : regular) c = {a, 0, 0, 1};
    run[0] = run[1] = {a, 1, 0};
    run_index = 0;
  }
};

// T.87 A.4-A.7 for one line. prev and cur point at sample 0 of line buffers with one spare sample on each side;
// prev[-1] and prev[cols] and cur[-1] hold the edge values of A.2.1.
template <bool Lossless>
class LineDecoder {
 public:
  LineDecoder(const Params& p, const int8_t* quant, int cols) : p_(p), quant_(quant), qrow_(static_cast<size_t>(cols)) {}

  void decode(BitReader& reader, State& s, const int32_t* __restrict prev, int32_t* __restrict cur, int cols) {
    const int8_t* const quant = quant_;
    // The two gradients from the line above (Rd - Rb, Rb - Rc) as their part of the context number, ahead of the
    // loop: per sample only Rc - Ra is left on the chain from one sample to the next.
    int* __restrict qrow = qrow_.data();
    for (int x = 0; x < cols; ++x) qrow[x] = (quant[prev[x + 1] - prev[x]] * 9 + quant[prev[x] - prev[x - 1]]) * 9;
    BitReader b = reader;
    const int step = Lossless ? 1 : 2 * p_.near + 1;
    const int near = Lossless ? 0 : p_.near;
    const int maxval = p_.maxval;
    const int limit = p_.limit, qbpp = p_.qbpp, reset = p_.reset;
    const int modulo = p_.range * step;
    Context* const contexts = s.regular;
    int x = 0;
    int ra = cur[-1], rb = prev[0], rc = prev[-1];
    while (x < cols) {
      const int qs = qrow[x] + quant[rc - ra];
      if (__builtin_expect(qs != 0, 1)) {
        const int sign = qs >> 31;
        Context& c = contexts[(qs ^ sign) - sign];
        // A.3 (MED) then the bias correction in the context's orientation.
        const int mx = ra > rb ? ra : rb, mn = ra > rb ? rb : ra;
        int px = rc >= mx ? mn : rc <= mn ? mx : ra + rb - rc;
        px += (c.c ^ sign) - sign;
        px = px < 0 ? 0 : px > maxval ? maxval : px;
        // k: the least k with N << k >= A.
        int k = __builtin_clz(static_cast<unsigned>(c.n)) - __builtin_clz(static_cast<unsigned>(c.a) | 1u);
        k = k < 0 ? 0 : k;
        k += (c.n << k) < c.a;
        const int m = decode_value(b, k, limit, qbpp);
        if (!Lossless && __builtin_expect(m > kMaxMapped, 0)) fail("corrupt entropy-coded data (an error value beyond the sample range)");
        int err = (m >> 1) ^ -(m & 1);
        // A.5.2's special mapping (lossless, k = 0, 2B <= -N): the other sign.
        if (Lossless) err ^= -(k == 0) & ((2 * c.b + c.n - 1) >> 31);
        // A.6: context update and bias. B stays in (-N, 0] after each update, so with |err| bounded only A can grow.
        int a = c.a + (err < 0 ? -err : err);
        int bias = c.b + err * step;
        int n = c.n;
        int cc = c.c;
        if (__builtin_expect(a >= kContextLimit, 0)) fail("corrupt entropy-coded data (a context's error sums overflow)");
        if (__builtin_expect(n == reset, 0)) {
          a >>= 1;
          bias >>= 1;
          n >>= 1;
        }
        n += 1;
        // A.6.2 without branches: at most one of down/up holds, and the clamps are no-ops otherwise.
        const int down = bias + n <= 0, up = bias > 0;
        bias += (n & -down) - (n & -up);
        bias = std::min(std::max(bias, 1 - n), 0);
        cc += (up & (cc < 127)) - (down & (cc > -128));
        c.a = a;
        c.b = bias;
        c.c = cc;
        c.n = n;
        err = (err ^ sign) - sign;
        ra = reconstruct(px + err * step, near, maxval, modulo);
        cur[x] = ra;
        rc = rb;
        rb = prev[x + 1];
        ++x;
        continue;
      }
      b = run(b, s, prev, cur, &x, cols);
      if (x < cols) {
        ra = cur[x - 1];
        rb = prev[x];
        rc = prev[x - 1];
      }
    }
    reader = b;
  }

 private:
  // A.4.4 modulo reduction undone and the value clamped to [0, MAXVAL].
  static int reconstruct(int v, int near, int maxval, int modulo) {
    if (v < -near)
      v += modulo;
    else if (v > maxval + near)
      v -= modulo;
    return v < 0 ? 0 : v > maxval ? maxval : v;
  }

  // A.7: a run of Ra from x, then (unless it reaches the end of the line) the run interruption sample. The reader
  // goes by value (see BitReader::refill_slow).
  [[gnu::noinline]] BitReader run(BitReader b, State& s, const int32_t* prev, int32_t* cur, int* at, int cols) {
    int x = *at;
    const int ra = cur[x - 1];
    const int remaining = cols - x;
    int length = 0;
    while (b.bit()) {
      const int n = std::min(1 << kJ[s.run_index], remaining - length);
      length += n;
      if (n == 1 << kJ[s.run_index] && s.run_index < 31) ++s.run_index;
      if (length == remaining) break;
    }
    if (length != remaining) length += b.bits(kJ[s.run_index]);
    if (length > remaining) fail("corrupt entropy-coded data (a run beyond the end of the line)");
    for (int i = 0; i < length; ++i) cur[x + i] = ra;
    x += length;
    *at = x;
    if (x == cols) return b;
    // A.7.2: the sample that ends the run.
    const int rb = prev[x];
    const int near = Lossless ? 0 : p_.near;
    const int step = Lossless ? 1 : 2 * p_.near + 1;
    const int type = std::abs(ra - rb) <= near ? 1 : 0;
    RunContext& c = s.run[type];
    const int temp = c.a + (c.n >> 1) * type;
    int k = 0;
    while ((c.n << k) < temp) ++k;
    const int m = decode_value(b, k, p_.limit - kJ[s.run_index] - 1, p_.qbpp);
    if (m > kMaxMapped) fail("corrupt entropy-coded data (an error value beyond the sample range)");
    const int t = m + type;
    const int map = t & 1;
    const int magnitude = (t + map) / 2;
    const int err = ((k != 0 || 2 * c.nn >= c.n) == (map != 0)) ? -magnitude : magnitude;
    if (err < 0) ++c.nn;
    c.a += (m + 1 - type) >> 1;
    if (c.a >= kContextLimit) fail("corrupt entropy-coded data (a context's error sums overflow)");
    if (c.n == p_.reset) {
      c.a >>= 1;
      c.n >>= 1;
      c.nn >>= 1;
    }
    c.n += 1;
    const int modulo = p_.range * step;
    cur[x] = type ? reconstruct(ra + err * step, near, p_.maxval, modulo)
                  : reconstruct(rb + (rb > ra ? err : -err) * step, near, p_.maxval, modulo);
    if (s.run_index > 0) --s.run_index;
    *at = x + 1;
    return b;
  }

  const Params& p_;
  const int8_t* quant_;
  std::vector<int> qrow_;
};

struct Frame {
  int precision = 0, rows = 0, cols = 0, component = -1;
  int near = 0;
  int restart_interval = 0;  // lines per interval; 0 = none
  // LSE id 1 (0 = default)
  int maxval = 0, t1 = 0, t2 = 0, t3 = 0, reset = 0;
  bool unsupported = false;  // a feature left to CharLS
  std::string unsupported_reason;
};

// Parses the markers up to the scan data. Returns the offset of the scan's first entropy-coded byte.
size_t parse_header(const uint8_t* data, size_t n, Frame& f) {
  if (!data || n < 4 || data[0] != 0xFF || data[1] != 0xD8) fail("the frame does not start with an SOI marker");
  bool have_frame = false;
  auto leave = [&f](const std::string& why) {
    f.unsupported = true;
    f.unsupported_reason = why;
  };
  size_t p = 2;
  while (true) {
    const auto segment = cxr::dicom::next_marker_segment(data, n, p, "JPEG-LS");
    const uint8_t marker = segment.marker;
    const uint8_t* body = segment.body;
    const size_t size = segment.size;
    if (marker == 0xF7) {
      if (have_frame) fail("a second frame header (SOF55)");
      const auto header = cxr::dicom::read_frame_header(segment, "JPEG-LS", "SOF55");
      f.precision = header.precision;
      f.rows = header.rows;
      f.cols = header.cols;
      f.component = header.component;
      have_frame = true;
    } else if (marker == 0xF9) {
      leave("a JPEG-LS part 2 frame (SOF57)");
      return p;
    } else if (marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC) {
      fail("the frame is SOF" + std::to_string(marker - 0xC0) + " (JPEG), not JPEG-LS (SOF55)");
    } else if (marker == 0xF8) {
      if (size < 1) fail("an empty JPEG-LS preset parameters segment (LSE)");
      const int id = body[0];
      if (id == 1) {
        if (size != 11) fail("the JPEG-LS preset parameters segment (LSE 1) is not 11 bytes");
        f.maxval = read_u16be(body + 1);
        f.t1 = read_u16be(body + 3);
        f.t2 = read_u16be(body + 5);
        f.t3 = read_u16be(body + 7);
        f.reset = read_u16be(body + 9);
      } else if (id == 2 || id == 3) {
        leave("a mapping table (LSE " + std::to_string(id) + ")");
        return p;
      } else if (id == 4) {
        leave("oversize image dimensions (LSE 4)");
        return p;
      } else {
        fail("JPEG-LS preset parameters segment (LSE) of unknown id " + std::to_string(id));
      }
    } else if (marker == 0xDD) {
      if (size < 2 || size > 4) fail("the restart interval segment (DRI) is not 2 to 4 bytes");
      int64_t ri = 0;
      for (size_t i = 0; i < size; ++i) ri = ri << 8 | body[i];
      f.restart_interval = static_cast<int>(std::min<int64_t>(ri, 65536));  // more lines than any frame has: one interval
    } else if (marker == 0xDA) {
      if (!have_frame) fail("start of scan (SOS) before the frame header (SOF55)");
      if (size < 1 || size != 4 + 2 * static_cast<size_t>(body[0])) fail("the scan header (SOS) is malformed");
      if (body[0] != 1) fail("the scan has " + std::to_string(body[0]) + " components; the frame has 1");
      if (body[1] != f.component) fail("the scan names component " + std::to_string(body[1]) + "; the frame has " + std::to_string(f.component));
      if (body[2] != 0) leave("a mapping table (table " + std::to_string(body[2]) + " in the scan header)");
      f.near = body[3];
      const int ilv = body[4];
      if (ilv > 2) fail("interleave mode " + std::to_string(ilv) + " (0..2)");
      if (body[5] != 0) leave("a point transform (SOS Al = " + std::to_string(body[5] & 15) + ")");
      return p;
    }
    // APPn, COM and the like carry nothing a single-component frame needs.
  }
}

Params coding_parameters(const Frame& f) {
  Params p;
  const int full = (1 << f.precision) - 1;
  if (f.maxval != 0 && f.maxval > full)
    fail("MAXVAL " + std::to_string(f.maxval) + " exceeds the " + std::to_string(f.precision) + "-bit sample range");
  p.maxval = f.maxval != 0 ? f.maxval : full;
  if (f.near > std::min(255, p.maxval / 2)) fail("NEAR " + std::to_string(f.near) + " exceeds min(255, MAXVAL / 2)");
  p.near = f.near;
  int t1, t2, t3;
  default_thresholds(p.maxval, p.near, t1, t2, t3);
  auto check = [&](int v, int lo, const char* name) {
    if (v != 0 && (v < lo || v > p.maxval))
      fail(std::string("threshold ") + name + " = " + std::to_string(v) + " is outside " + std::to_string(lo) + ".." + std::to_string(p.maxval));
  };
  check(f.t1, p.near + 1, "T1");
  p.t1 = f.t1 != 0 ? f.t1 : t1;
  check(f.t2, p.t1, "T2");
  p.t2 = f.t2 != 0 ? f.t2 : t2;
  check(f.t3, p.t2, "T3");
  p.t3 = f.t3 != 0 ? f.t3 : t3;
  if (f.reset != 0 && (f.reset < 3 || f.reset > std::max(255, p.maxval)))
    fail("RESET " + std::to_string(f.reset) + " is outside 3..max(255, MAXVAL)");
  p.reset = f.reset != 0 ? f.reset : 64;
  p.range = (p.maxval + 2 * p.near) / (2 * p.near + 1) + 1;
  p.qbpp = bit_width(p.range - 1);
  const int bpp = std::max(2, bit_width(p.maxval));
  p.limit = 2 * (bpp + std::max(8, bpp));
  return p;
}

// The scan's entropy-coded data split at its RSTn markers: [begin, end) of each interval. A marker is 0xFF followed
// by a byte with the high bit set; the scan ends at any marker other than RSTn, or at the end of the frame.
std::vector<std::pair<size_t, size_t>> split_intervals(const uint8_t* in, size_t n, size_t from, size_t intervals) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = from, i = from;
  while (i < n) {
    const auto* ff = static_cast<const uint8_t*>(std::memchr(in + i, 0xFF, n - i));
    if (!ff) break;
    i = static_cast<size_t>(ff - in);
    if (i + 1 < n && in[i + 1] < 0x80) {  // data: the next byte carries 7 bits
      i += 2;
      continue;
    }
    size_t j = i + 1;
    while (j < n && in[j] == 0xFF) ++j;
    if (j >= n || in[j] < 0xD0 || in[j] > 0xD7) {  // EOI, another marker, or 0xFF bytes ending the frame
      out.emplace_back(begin, i);
      return out;
    }
    const size_t expected = out.size() % 8;
    if (out.size() + 1 >= intervals) fail("more restart markers than the image has restart intervals");
    if (in[j] != 0xD0 + expected)
      fail("restart marker RST" + std::to_string(in[j] - 0xD0) + " where RST" + std::to_string(expected) +
           " belongs (corrupt or reordered data)");
    out.emplace_back(begin, i);
    begin = i = j + 1;
  }
  out.emplace_back(begin, std::max(begin, n));
  return out;
}

template <bool Lossless>
void decode_scan(const Frame& f, const Params& p, const uint8_t* data, size_t n, size_t scan, int bytes_per_sample, uint8_t* out) {
  const int cols = f.cols;
  const int lines_per_interval = f.restart_interval ? f.restart_interval : f.rows;
  const size_t intervals = (static_cast<size_t>(f.rows) + lines_per_interval - 1) / lines_per_interval;
  const auto bounds = split_intervals(data, n, scan, intervals);
  if (bounds.size() < intervals)
    fail("the scan ends after " + std::to_string(bounds.size()) + " of its " + std::to_string(intervals) +
         " restart intervals (truncated stream?)");
  // Gradient quantisation (A.3.3) for every difference of two samples in 0..MAXVAL.
  std::vector<int8_t> table(2 * static_cast<size_t>(p.maxval) + 1);
  for (int d = -p.maxval; d <= p.maxval; ++d) {
    int q;
    if (d <= -p.t3) q = -4;
    else if (d <= -p.t2) q = -3;
    else if (d <= -p.t1) q = -2;
    else if (d < -p.near) q = -1;
    else if (d <= p.near) q = 0;
    else if (d < p.t1) q = 1;
    else if (d < p.t2) q = 2;
    else if (d < p.t3) q = 3;
    else q = 4;
    table[static_cast<size_t>(d + p.maxval)] = static_cast<int8_t>(q);
  }
  LineDecoder<Lossless> line(p, table.data() + p.maxval, cols);
  const size_t stride = static_cast<size_t>(cols) + 2;
  std::vector<int32_t> lines(2 * stride);
  State state;
  for (size_t k = 0; k < intervals; ++k) {
    // T.87 (and CharLS): each interval starts afresh — contexts, run index, and a zero line above.
    state.reset(p);
    std::fill(lines.begin(), lines.end(), 0);
    BitReader reader{data + bounds[k].first, data + bounds[k].second};
    const int first = static_cast<int>(k) * lines_per_interval;
    const int last = std::min(f.rows, first + lines_per_interval);
    for (int y = first; y < last; ++y) {
      int32_t* prev = lines.data() + ((y - first + 1) & 1) * stride + 1;
      int32_t* cur = lines.data() + ((y - first) & 1) * stride + 1;
      // A.2.1 edges: Rd at the last column is Rb; Ra at the first is Rb; Rc at the first is the previous line's Ra.
      prev[cols] = prev[cols - 1];
      cur[-1] = prev[0];
      try {
        line.decode(reader, state, prev, cur, cols);
      } catch (const std::runtime_error& e) {
        throw std::runtime_error(std::string(e.what()) + " in line " + std::to_string(y) + " of " + std::to_string(f.rows));
      }
      if (reader.overrun())
        fail("the entropy-coded data " + (f.restart_interval ? "of restart interval " + std::to_string(k) + " " : std::string()) +
             "ends inside line " + std::to_string(y) + " of " + std::to_string(f.rows) + " (truncated or corrupt stream)");
      if (bytes_per_sample == 2) {
        auto* row = reinterpret_cast<uint16_t*>(out) + static_cast<size_t>(y) * cols;
        for (int x = 0; x < cols; ++x) row[x] = static_cast<uint16_t>(cur[x]);
      } else {
        uint8_t* row = out + static_cast<size_t>(y) * cols;
        for (int x = 0; x < cols; ++x) row[x] = static_cast<uint8_t>(cur[x]);
      }
    }
  }
}

// 1 = supported, 0 = a feature left to CharLS; throws on a malformed header or one that disagrees with the DICOM header.
int decode(const uint8_t* data, size_t n, int rows, int cols, int bytes_per_sample, uint8_t* out, bool check_only) {
  Frame f;
  const size_t scan = parse_header(data, n, f);
  if (f.unsupported) return 0;
  if (f.rows == 0) fail("the frame header gives no height; DICOM frames state it");
  if (f.rows != rows || f.cols != cols)
    fail("the stream is " + std::to_string(f.cols) + "x" + std::to_string(f.rows) + "; the DICOM header says " + std::to_string(cols) +
         "x" + std::to_string(rows));
  if (f.precision > 8 * bytes_per_sample)
    fail("the stream holds " + std::to_string(f.precision) + "-bit samples; the DICOM header allocates " + std::to_string(8 * bytes_per_sample));
  const Params p = coding_parameters(f);
  if (check_only) return 1;
  if (p.near == 0)
    decode_scan<true>(f, p, data, n, scan, bytes_per_sample, out);
  else
    decode_scan<false>(f, p, data, n, scan, bytes_per_sample, out);
  return 1;
}
}  // namespace

// Decodes one JPEG-LS frame (SOF55, one component, lossless or near-lossless) into little-endian samples:
// rows x cols x bytes_per_sample (1 or 2) bytes at out; samples of up to 8 bits are widened when the header allocates
// 16. Returns 0 when decoded, 1 when the stream uses a feature this decoder leaves to CharLS (mapping tables, point
// transform, SOF57, LSE 4; out untouched: call cxr_dicom_jpegls_decode), -1 on failure.
CXR_API int cxr_dicom_jpegls_decode_own(const uint8_t* data, int64_t length, int rows, int cols, int bytes_per_sample, uint8_t* out,
                                        int64_t out_bytes) {
  CXR_TRY(-1, {
    check_output(rows, cols, bytes_per_sample, out_bytes, out);
    if (bytes_per_sample == 4) fail("JPEG-LS holds at most 16-bit samples; the header allocates 32");
    if (length < 0) fail("negative frame length");
    return decode(data, static_cast<size_t>(length), rows, cols, bytes_per_sample, out, false) == 1 ? 0 : 1;
  })
}

// 1 when cxr_dicom_jpegls_decode_own decodes this frame's stream, 0 when CharLS should (see above), -1 on a header
// that is malformed or disagrees with the DICOM header. Reads the header only.
CXR_API int cxr_dicom_jpegls_own_supports(const uint8_t* data, int64_t length, int rows, int cols, int bytes_per_sample) {
  CXR_TRY(-1, {
    if (rows <= 0 || cols <= 0 || (bytes_per_sample != 1 && bytes_per_sample != 2)) return 0;
    if (length < 0) fail("negative frame length");
    return decode(data, static_cast<size_t>(length), rows, cols, bytes_per_sample, nullptr, true);
  })
}
