// DICOM pixel codecs for single-sample (grayscale) frames: RLE Lossless (our own, PS3.5 Annex G),
// JPEG baseline 8-bit (libjpeg-turbo), JPEG-LS (CharLS) and JPEG 2000 (OpenJPEG); JPEG Lossless is our own too
// (dicom_jpeg_lossless.cpp). The managed side takes the encapsulated fragments from
// GDCM's parsed data set and hands one frame's bytes here; the file structure stays GDCM's.
//
// Why here and not through GDCM's Bitmap::GetBuffer: one pass from the codestream into the caller's
// typed buffer (GDCM decodes into a string stream and copies twice more; its RLE path is ~2.5x slower
// than pydicom's), and a corrupt stream ends in an exception with a reason instead of a GDCM assertion
// or a heap overrun that aborts the process. Every size is checked against the header the caller
// passes before anything is written.
#include "cxr_native.h"
#include "dicom_codec_common.h"

#include <charls/charls.h>
#include <openjpeg.h>

#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <jpeglib.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
using cxr::dicom::check_output;

uint32_t read_u32le(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

// PackBits (PS3.5 G.3.1) into every `stride`-th byte of out; stops when `count` bytes are written or the
// input ends. Returns how many bytes were written. Bytes past `count` are ignored, as pydicom does with
// the padding some encoders leave.
int64_t unpack_segment(const uint8_t* in, int64_t length, uint8_t* out, int64_t count, int stride) {
  int64_t pos = 0, written = 0;
  while (pos < length && written < count) {
    const int n = static_cast<int8_t>(in[pos++]);
    if (n >= 0) {  // literal run of n + 1 bytes (shorter if the input ends)
      const int64_t run = std::min<int64_t>({n + 1, length - pos, count - written});
      for (int64_t i = 0; i < run; ++i) out[(written + i) * stride] = in[pos + i];
      written += run;
      pos += n + 1;
    } else if (n != -128) {  // the next byte repeated 1 - n times
      if (pos >= length) break;
      const uint8_t value = in[pos++];
      const int64_t run = std::min<int64_t>(1 - n, count - written);
      for (int64_t i = 0; i < run; ++i) out[(written + i) * stride] = value;
      written += run;
    }
  }
  return written;
}

// OpenJPEG reads from this memory stream; the codestream is never copied.
struct MemoryStream {
  const uint8_t* data;
  OPJ_SIZE_T length;
  OPJ_SIZE_T position;
};

OPJ_SIZE_T opj_read(void* buffer, OPJ_SIZE_T count, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (s->position >= s->length) return static_cast<OPJ_SIZE_T>(-1);
  const OPJ_SIZE_T n = std::min(count, s->length - s->position);
  std::memcpy(buffer, s->data + s->position, n);
  s->position += n;
  return n;
}

OPJ_OFF_T opj_skip(OPJ_OFF_T count, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (count < 0) {
    if (static_cast<OPJ_SIZE_T>(-count) > s->position) return -1;
    s->position -= static_cast<OPJ_SIZE_T>(-count);
    return count;
  }
  const OPJ_SIZE_T n = std::min(static_cast<OPJ_SIZE_T>(count), s->length - std::min(s->position, s->length));
  s->position += n;
  return static_cast<OPJ_OFF_T>(n);
}

OPJ_BOOL opj_seek(OPJ_OFF_T position, void* user) {
  auto* s = static_cast<MemoryStream*>(user);
  if (position < 0 || static_cast<OPJ_SIZE_T>(position) > s->length) return OPJ_FALSE;
  s->position = static_cast<OPJ_SIZE_T>(position);
  return OPJ_TRUE;
}

// OpenJPEG reports errors through a callback; keep the first one for the exception message.
void opj_on_error(const char* message, void* user) {
  auto* text = static_cast<std::string*>(user);
  if (text->empty() && message) {
    *text = message;
    while (!text->empty() && (text->back() == '\n' || text->back() == ' ')) text->pop_back();
  }
}
void opj_quiet(const char*, void*) {}

// Owns OpenJPEG's objects for one decode; released on every path, exceptions included.
struct OpjDecode {
  opj_stream_t* stream = nullptr;
  opj_codec_t* codec = nullptr;
  opj_image_t* image = nullptr;
  ~OpjDecode() {
    if (image) opj_image_destroy(image);
    if (codec) opj_destroy_codec(codec);
    if (stream) opj_stream_destroy(stream);
  }
};

[[noreturn]] void opj_fail(const char* step, const std::string& error) {
  throw std::runtime_error(std::string("JPEG 2000 ") + step + ": " + (error.empty() ? "corrupt codestream" : error));
}

// Opens a JPEG 2000 frame (J2K codestream or JP2 file) from memory and reads its main header into d.image.
// `source` and `error` must outlive d (OpenJPEG keeps pointers to them). threads <= 1 decodes on the caller's thread.
void open_j2k(const uint8_t* data, int64_t length, int threads, MemoryStream& source, std::string& error, OpjDecode& d) {
  if (!data || length < 12) throw std::runtime_error("JPEG 2000 frame is too short");
  static const uint8_t jp2_signature[12] = {0, 0, 0, 0x0C, 'j', 'P', ' ', ' ', 0x0D, 0x0A, 0x87, 0x0A};
  const bool jp2 = std::memcmp(data, jp2_signature, 12) == 0;
  if (!jp2 && !(data[0] == 0xFF && data[1] == 0x4F && data[2] == 0xFF && data[3] == 0x51))
    throw std::runtime_error("not a JPEG 2000 codestream (no SOC/SIZ marker or JP2 signature)");
  source = MemoryStream{data, static_cast<OPJ_SIZE_T>(length), 0};
  d.stream = opj_stream_create(1 << 16, OPJ_TRUE);
  if (!d.stream) throw std::bad_alloc();
  opj_stream_set_user_data(d.stream, &source, nullptr);
  opj_stream_set_user_data_length(d.stream, source.length);
  opj_stream_set_read_function(d.stream, opj_read);
  opj_stream_set_skip_function(d.stream, opj_skip);
  opj_stream_set_seek_function(d.stream, opj_seek);
  d.codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
  if (!d.codec) throw std::bad_alloc();
  opj_set_error_handler(d.codec, opj_on_error, &error);
  opj_set_warning_handler(d.codec, opj_quiet, nullptr);
  opj_set_info_handler(d.codec, opj_quiet, nullptr);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  if (!opj_setup_decoder(d.codec, &parameters)) opj_fail("setup", error);
  if (threads > 1 && !opj_codec_set_threads(d.codec, threads)) opj_fail("threads", error);
  if (!opj_read_header(d.stream, d.codec, &d.image) || !d.image) opj_fail("header", error);
}

template <typename T>
void store_samples(const OPJ_INT32* in, uint8_t* out, int64_t count) {
  auto* typed = reinterpret_cast<T*>(out);
  for (int64_t i = 0; i < count; ++i) typed[i] = static_cast<T>(in[i]);  // two's complement truncation
}
}  // namespace

// Decodes one RLE Lossless frame of a single-sample image: `bytes_per_sample` segments, most significant
// byte first, into little-endian samples (rows x cols x bytes_per_sample bytes at out).
CXR_API int cxr_dicom_rle_decode(const uint8_t* data, int64_t length, int rows, int cols, int bytes_per_sample, uint8_t* out,
                                 int64_t out_bytes) {
  CXR_TRY(-1, {
    check_output(rows, cols, bytes_per_sample, out_bytes, out);
    if (!data || length < 64) throw std::runtime_error("RLE frame is shorter than its 64-byte header");
    const uint32_t segments = read_u32le(data);
    if (segments != static_cast<uint32_t>(bytes_per_sample))
      throw std::runtime_error("RLE frame has " + std::to_string(segments) + " segments; a single-sample " +
                               std::to_string(bytes_per_sample * 8) + "-bit image needs " + std::to_string(bytes_per_sample));
    const int64_t pixels = static_cast<int64_t>(rows) * cols;
    for (uint32_t s = 0; s < segments; ++s) {
      const int64_t start = read_u32le(data + 4 + 4 * s);
      const int64_t end = s + 1 < segments ? read_u32le(data + 8 + 4 * s) : length;
      if (start < 64 || end > length || start > end)
        throw std::runtime_error("RLE segment " + std::to_string(s) + " lies outside the frame (" + std::to_string(start) + ".." +
                                 std::to_string(end) + " of " + std::to_string(length) + " bytes)");
      // Segment 0 holds the most significant bytes: little-endian byte (bytes - 1 - s) of each sample.
      const int64_t got = unpack_segment(data + start, end - start, out + (bytes_per_sample - 1 - s), pixels, bytes_per_sample);
      if (got < pixels)
        throw std::runtime_error("RLE segment " + std::to_string(s) + " decodes to " + std::to_string(got) + " bytes; the image needs " +
                                 std::to_string(pixels));
    }
    return 0;
  })
}

namespace {
// libjpeg reports errors through error_exit, which must not return: jump back to the decode call. Warnings
// (level -1: corrupt entropy data, a premature end) fail the decode too — GDCM's libjpeg would fill the rest
// of the image with grey, and a silently damaged X-ray is worse than a clear error.
struct JpegErrors {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jpeg_fail(j_common_ptr info) {
  auto* errors = reinterpret_cast<JpegErrors*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

void jpeg_message(j_common_ptr info, int level) {
  if (level < 0) jpeg_fail(info);
}

// The part between setjmp and longjmp holds no C++ object with a destructor (longjmp would skip it).
// Returns an empty string on success, else libjpeg's message or our own.
std::string decode_jpeg_baseline(const uint8_t* data, int64_t length, int rows, int cols, uint8_t* out) {
  jpeg_decompress_struct info;
  JpegErrors errors;
  info.err = jpeg_std_error(&errors.manager);
  errors.manager.error_exit = jpeg_fail;
  errors.manager.emit_message = jpeg_message;
  errors.message[0] = 0;
  const char* problem = nullptr;
  char detail[160] = {0};
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    return std::string("JPEG: ") + errors.message;
  }
  jpeg_create_decompress(&info);
  jpeg_mem_src(&info, data, static_cast<unsigned long>(length));
  jpeg_read_header(&info, TRUE);
  if (info.image_width != static_cast<JDIMENSION>(cols) || info.image_height != static_cast<JDIMENSION>(rows) ||
      info.num_components != 1) {
    std::snprintf(detail, sizeof detail, "JPEG stream is %ux%u with %d component(s); the header says %dx%d with 1", info.image_width,
                  info.image_height, info.num_components, cols, rows);
    problem = detail;
  } else if (info.data_precision != 8) {
    std::snprintf(detail, sizeof detail, "JPEG stream holds %d-bit samples; the header allocates 8", info.data_precision);
    problem = detail;
  }
  if (problem) {
    jpeg_destroy_decompress(&info);
    return problem;
  }
  // The IJG defaults GDCM's libjpeg uses too (accurate integer IDCT), so the samples are the same.
  info.out_color_space = JCS_GRAYSCALE;
  info.dct_method = JDCT_ISLOW;
  jpeg_start_decompress(&info);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = out + static_cast<int64_t>(info.output_scanline) * cols;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return {};
}
}  // namespace

// Decodes one 8-bit JPEG baseline/extended (process 1/2) frame of a single-sample image with libjpeg(-turbo):
// rows x cols bytes at out. The stream's size, component count and precision must be the header's.
CXR_API int cxr_dicom_jpeg_decode(const uint8_t* data, int64_t length, int rows, int cols, uint8_t* out, int64_t out_bytes) {
  CXR_TRY(-1, {
    check_output(rows, cols, 1, out_bytes, out);
    if (!data || length < 4 || data[0] != 0xFF || data[1] != 0xD8) throw std::runtime_error("JPEG frame does not start with an SOI marker");
    const std::string error = decode_jpeg_baseline(data, length, rows, cols, out);
    if (!error.empty()) throw std::runtime_error(error);
    return 0;
  })
}

// Decodes one JPEG-LS frame of a single-sample image with CharLS into little-endian samples. The stream's
// size and component count must be the header's; samples of up to 8 bits are widened when the header
// allocates 16.
CXR_API int cxr_dicom_jpegls_decode(const uint8_t* data, int64_t length, int rows, int cols, int bytes_per_sample, uint8_t* out,
                                    int64_t out_bytes) {
  CXR_TRY(-1, {
    check_output(rows, cols, bytes_per_sample, out_bytes, out);
    if (!data || length <= 0) throw std::runtime_error("empty JPEG-LS frame");
    if (bytes_per_sample == 4) throw std::runtime_error("JPEG-LS holds at most 16-bit samples; the header allocates 32");
    struct Decoder {
      charls_jpegls_decoder* d = charls_jpegls_decoder_create();
      ~Decoder() { charls_jpegls_decoder_destroy(d); }
    } decoder;
    if (!decoder.d) throw std::bad_alloc();
    auto check = [](charls_jpegls_errc e, const char* step) {
      if (static_cast<int>(e) != 0)
        throw std::runtime_error(std::string("JPEG-LS ") + step + ": " + charls_get_error_message(e));
    };
    check(charls_jpegls_decoder_set_source_buffer(decoder.d, data, static_cast<size_t>(length)), "stream");
    check(charls_jpegls_decoder_read_header(decoder.d), "header");
    charls_frame_info info{};
    check(charls_jpegls_decoder_get_frame_info(decoder.d, &info), "header");
    if (info.width != static_cast<uint32_t>(cols) || info.height != static_cast<uint32_t>(rows) || info.component_count != 1)
      throw std::runtime_error("JPEG-LS stream is " + std::to_string(info.width) + "x" + std::to_string(info.height) + " with " +
                               std::to_string(info.component_count) + " component(s); the header says " + std::to_string(cols) + "x" +
                               std::to_string(rows) + " with 1");
    const int stream_bytes = info.bits_per_sample <= 8 ? 1 : 2;
    if (stream_bytes > bytes_per_sample)
      throw std::runtime_error("JPEG-LS stream holds " + std::to_string(info.bits_per_sample) + "-bit samples; the header allocates " +
                               std::to_string(bytes_per_sample * 8));
    const int64_t pixels = static_cast<int64_t>(rows) * cols;
    if (stream_bytes == bytes_per_sample) {
      check(charls_jpegls_decoder_decode_to_buffer(decoder.d, out, static_cast<size_t>(out_bytes), 0), "decode");
    } else {
      std::vector<uint8_t> narrow(static_cast<size_t>(pixels));
      check(charls_jpegls_decoder_decode_to_buffer(decoder.d, narrow.data(), narrow.size(), 0), "decode");
      auto* wide = reinterpret_cast<uint16_t*>(out);
      for (int64_t i = 0; i < pixels; ++i) wide[i] = narrow[static_cast<size_t>(i)];
    }
    return 0;
  })
}

// Decodes one JPEG 2000 frame (J2K codestream or JP2 file) of a single-sample image with OpenJPEG into
// little-endian samples of bytes_per_sample bytes (values truncated to that width in two's complement;
// the managed side then keeps Bits Stored bits, as pydicom does). threads <= 1 decodes on this thread.
CXR_API int cxr_dicom_j2k_decode(const uint8_t* data, int64_t length, int rows, int cols, int bytes_per_sample, int threads,
                                 uint8_t* out, int64_t out_bytes) {
  CXR_TRY(-1, {
    check_output(rows, cols, bytes_per_sample, out_bytes, out);
    MemoryStream source{};
    std::string error;
    OpjDecode d;
    open_j2k(data, length, threads, source, error, d);
    // The stream must describe the header's image before OpenJPEG allocates anything for its tiles.
    const auto* im = d.image;
    if (im->numcomps != 1 || im->x1 <= im->x0 || im->y1 <= im->y0 || im->x1 - im->x0 != static_cast<OPJ_UINT32>(cols) ||
        im->y1 - im->y0 != static_cast<OPJ_UINT32>(rows))
      throw std::runtime_error("JPEG 2000 stream is " + std::to_string(im->x1 - im->x0) + "x" + std::to_string(im->y1 - im->y0) +
                               " with " + std::to_string(im->numcomps) + " component(s); the header says " + std::to_string(cols) + "x" +
                               std::to_string(rows) + " with 1");
    if (!opj_decode(d.codec, d.stream, d.image)) opj_fail("decode", error);
    if (!opj_end_decompress(d.codec, d.stream)) opj_fail("decode", error);
    const auto& c = d.image->comps[0];
    if (!c.data || c.w != static_cast<OPJ_UINT32>(cols) || c.h != static_cast<OPJ_UINT32>(rows) || c.factor != 0)
      throw std::runtime_error("JPEG 2000 decoded component does not match the header's image size");
    if (c.prec < 1 || c.prec > static_cast<OPJ_UINT32>(bytes_per_sample * 8))
      throw std::runtime_error("JPEG 2000 stream holds " + std::to_string(c.prec) + "-bit samples; the header allocates " +
                               std::to_string(bytes_per_sample * 8));
    const int64_t pixels = static_cast<int64_t>(rows) * cols;
    switch (bytes_per_sample) {
      case 1: store_samples<uint8_t>(c.data, out, pixels); break;
      case 2: store_samples<uint16_t>(c.data, out, pixels); break;
      default: store_samples<uint32_t>(c.data, out, pixels); break;
    }
    return 0;
  })
}

// Reads only the main header of a JPEG 2000 frame and checks it describes the DICOM header's image: `samples`
// components of cols x rows (no subsampling), each of at most bits_allocated bits. For frames GDCM decodes
// (colour): GDCM 3.0 copies OpenJPEG's output by the stream's geometry into a buffer sized by the header's, and
// overruns the heap (aborting the process) when the two disagree.
CXR_API int cxr_dicom_j2k_check(const uint8_t* data, int64_t length, int rows, int cols, int samples, int bits_allocated) {
  CXR_TRY(-1, {
    MemoryStream source{};
    std::string error;
    OpjDecode d;
    open_j2k(data, length, 1, source, error, d);
    const auto* im = d.image;
    const bool size_ok = im->x1 > im->x0 && im->y1 > im->y0 && im->x1 - im->x0 == static_cast<OPJ_UINT32>(cols) &&
                         im->y1 - im->y0 == static_cast<OPJ_UINT32>(rows);
    if (!size_ok || im->numcomps != static_cast<OPJ_UINT32>(samples))
      throw std::runtime_error("JPEG 2000 stream is " + std::to_string(im->x1 - im->x0) + "x" + std::to_string(im->y1 - im->y0) +
                               " with " + std::to_string(im->numcomps) + " component(s); the header says " + std::to_string(cols) + "x" +
                               std::to_string(rows) + " with " + std::to_string(samples));
    for (OPJ_UINT32 c = 0; c < im->numcomps; ++c) {
      const auto& comp = im->comps[c];
      if (comp.dx != 1 || comp.dy != 1)
        throw std::runtime_error("JPEG 2000 component " + std::to_string(c) + " is subsampled; DICOM frames are not");
      if (comp.prec < 1 || comp.prec > static_cast<OPJ_UINT32>(bits_allocated))
        throw std::runtime_error("JPEG 2000 component " + std::to_string(c) + " holds " + std::to_string(comp.prec) +
                                 "-bit samples; the header allocates " + std::to_string(bits_allocated));
    }
    return 0;
  })
}
