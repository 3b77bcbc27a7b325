/* fuzz_safetensors.c: libFuzzer harness for the safetensors reader. Each input is read
 * from memory (lt_st_parse) and as a file (lt_st_open, the staged reader); both must agree,
 * and an accepted file must answer every lookup consistently and convert every entry. */
#define _GNU_SOURCE /* memfd_create */
#include <string.h>

#include "fuzz_util.h"
#include "lotto/io.h"

static void exercise(lt_st_file *f) {
  size_t n = lt_st_count(f);
  for (size_t i = 0; i < n; i++) {
    const lt_st_entry *e = lt_st_entry_at(f, i);
    FUZZ_CHECK(lt_st_find(f, e->name) == e, "entry %zu \"%s\" not found by name", i, e->name);
    FUZZ_CHECK(e->nbytes == e->numel * lt_dtype_size(e->dtype), "entry %zu size", i);
    lt_tensor *t = NULL;
    if (lt_st_entry_tensor(&t, e) == LT_OK) {
      FUZZ_CHECK(lt_tensor_numel(t) == (e->numel ? e->numel : 1), "entry %zu numel", i);
      lt_tensor_release(t);
    }
  }
  FUZZ_CHECK(lt_st_entry_at(f, n) == NULL, "entry past the end");
  for (size_t i = 0; i < lt_st_meta_count(f); i++) {
    const char *k, *v;
    FUZZ_CHECK(lt_st_meta_at(f, i, &k, &v) == 0, "meta %zu", i);
    FUZZ_CHECK(lt_st_meta_get(f, k) == v, "meta key \"%s\" lookup", k);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lt_st_file *a = NULL, *b = NULL;
  lt_status sa = lt_st_parse(&a, data, size, "fuzz");
  lt_status sb = lt_st_open(&b, fuzz_file(0, data, size));
  FUZZ_CHECK((sa == LT_OK) == (sb == LT_OK), "parse says %d, open says %d (%s)", sa, sb, lt_errmsg());
  if (a) {
    exercise(a);
    FUZZ_CHECK(lt_st_count(a) == lt_st_count(b), "counts differ");
    for (size_t i = 0; i < lt_st_count(a); i++) {
      const lt_st_entry *x = lt_st_entry_at(a, i), *y = lt_st_entry_at(b, i);
      FUZZ_CHECK(strcmp(x->name, y->name) == 0 && x->nbytes == y->nbytes &&
                     (x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0),
                 "entry %zu differs between parse and open", i);
    }
    exercise(b);
  }
  lt_st_close(a);
  lt_st_close(b);
  return 0;
}
