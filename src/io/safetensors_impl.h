/* safetensors_impl.h: the reader's private state, shared by the header validation
 * (safetensors.c) and the staged file reading (safetensors_open.c). Engine-internal. */
#ifndef LOTTO_IO_SAFETENSORS_IMPL_H
#define LOTTO_IO_SAFETENSORS_IMPL_H

#include <stdint.h>

#include "lotto/io.h"

#define LT_ST_MAX_HEADER (100u << 20) /* the format's own limit on the JSON header */

/* A string and where it came from, in an index sorted by string. */
typedef struct lt_st_named { const char *s; size_t i; } lt_st_named;

struct lt_st_file {
  unsigned char *buf;   /* the memory the entries point into (data section, or a whole copy) */
  lt_st_entry *e;       /* in offset order */
  uint64_t *off;        /* e[k]'s offset in the data section */
  lt_st_named *byname;  /* e's names, sorted */
  size_t n;
  char **mkey, **mval;  /* metadata in file order */
  lt_st_named *mbykey;  /* mkey sorted */
  size_t nmeta;
};

/* Parses and checks the JSON header h[0..hlen) into f's entries and metadata; *begins
 * (malloc'd, one per entry, caller frees) holds each entry's offset. dlen is the data
 * section's size when known (UINT64_MAX if not): an entry reaching past it is refused
 * here, before anything else is read. */
lt_status lt_st_parse_header(lt_st_file *f, const char *h, uint64_t hlen, uint64_t dlen, uint64_t **begins,
                             const char *name);
/* The data section size the entries need: the largest end offset. */
uint64_t lt_st_data_needed(const lt_st_file *f, const uint64_t *begins);
/* Checks that the entries tile a dlen-byte data section exactly and that names are unique;
 * sorts the entries by offset. */
lt_status lt_st_place(lt_st_file *f, const uint64_t *begins, uint64_t dlen, const char *name);
/* Points every entry into data (the dlen bytes lt_st_place checked against). */
void lt_st_attach(lt_st_file *f, const unsigned char *data);

#endif
