/* export_impl.h: engine-internal: the index codecs of the lotto.sparse export
 * format (lotto/nn.h, "export / import"), shared by nn_export.c and
 * nn_import.c and tested on their own (tests/test_export.c). */
#ifndef LOTTO_EXPORT_IMPL_H
#define LOTTO_EXPORT_IMPL_H

#include <stddef.h>
#include <stdint.h>

#define LT_EXPORT_FORMAT "lotto.sparse"

/* Gap bytes of the kept (nonzero) positions of mask (n entries) into out, or
 * only their count when out is NULL. Returns the number of bytes. */
size_t lt_delta8_encode(uint8_t *out, const float *mask, size_t n);
/* Reads len gap bytes: sets mask (n entries, zeroed first; NULL: count only)
 * to 1 at each kept position. Returns the number kept, or -1 when a position
 * falls at or beyond n. */
int64_t lt_delta8_decode(float *mask, size_t n, const uint8_t *gaps, size_t len);
/* Bitmap of mask (n entries) into out ((n + 7) / 8 bytes, zeroed here). */
void lt_bitmap_encode(uint8_t *out, const float *mask, size_t n);
/* Sets mask (n entries; NULL: count only) from a bitmap of (n + 7) / 8 bytes;
 * returns the number kept (bits past n are ignored). */
int64_t lt_bitmap_decode(float *mask, size_t n, const uint8_t *bits);
/* The layout a weight of numel entries with nnz kept is stored in: "empty",
 * "delta8" when its gap bytes (ndelta) are no more than the bitmap's, else "bitmap". */
const char *lt_export_layout(size_t nnz, size_t ndelta, size_t numel);

#endif
