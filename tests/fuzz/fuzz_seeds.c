/* fuzz_seeds.c: writes the seed corpora of the fuzz harnesses into DIR/<harness>/, from
 * files the project writes: safetensors through lt_st_writer (weights, masks, indices,
 * metadata as the run store writes them), JSON through lotto.json's encoder (documents
 * shaped like config.json, summary.json, results.json and metrics lines), sparse exports
 * through lt_model_export (an MLP at three densities: bitmap, delta8 and empty layouts;
 * a conv net with batchnorm and a residual block); IDX and CIFAR
 * files, which lotto only reads, are crafted small (plain and gzip) as the tests do.
 * usage: fuzz_seeds DIR */
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "lotto/io.h"
#include "lotto/nn.h"

int luaopen_lotto_json(lua_State *L);

static const char *dir;

static const char *seed_path(const char *harness, const char *name) {
  static char p[4096];
  snprintf(p, sizeof p, "%s/%s", dir, harness);
  if (mkdir(p, 0777) != 0 && errno != EEXIST) {
    perror(p);
    exit(1);
  }
  snprintf(p, sizeof p, "%s/%s/%s", dir, harness, name);
  return p;
}

static void put(const char *harness, const char *name, const void *data, size_t n) {
  const char *p = seed_path(harness, name);
  FILE *f = fopen(p, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
    perror(p);
    exit(1);
  }
}

static void check(lt_status s) {
  if (s) {
    fprintf(stderr, "fuzz_seeds: %s\n", lt_errmsg());
    exit(1);
  }
}

static void safetensors_seeds(void) {
  int64_t s34[2] = {3, 4}, s3[1] = {3}, s22[2] = {2, 2}, s2[1] = {2};
  float w[12], b[3] = {0.5f, -1.0f, 2.0f};
  unsigned char m[12], flag[2] = {1, 0};
  int32_t idx[4] = {0, 5, -7, 2147483647};
  float scalar = 3.25f;
  for (int i = 0; i < 12; i++) w[i] = (float)(i - 6) / 7.0f, m[i] = (unsigned char)(i % 3 != 0);
  lt_st_writer *wr = lt_st_writer_new();
  check(lt_st_writer_add(wr, "fc1.weight", LT_DT_F32, 2, s34, w));
  check(lt_st_writer_add(wr, "fc1.bias", LT_DT_F32, 1, s3, b));
  check(lt_st_writer_add(wr, "fc1.mask", LT_DT_U8, 2, s34, m));
  check(lt_st_writer_add(wr, "idx", LT_DT_I32, 2, s22, idx));
  check(lt_st_writer_add(wr, "flag", LT_DT_BOOL, 1, s2, flag));
  check(lt_st_writer_add(wr, "step", LT_DT_F32, 0, NULL, &scalar));
  check(lt_st_writer_meta(wr, "lotto.arch", "{\"layers\":[{\"kind\":\"linear\",\"in\":4,\"out\":3}]}"));
  check(lt_st_writer_meta(wr, "round", "3"));
  check(lt_st_writer_commit(wr, seed_path("safetensors", "model.safetensors")));
  lt_st_writer_free(wr);
  wr = lt_st_writer_new(); /* a mask file: masks only */
  check(lt_st_writer_add(wr, "fc1.mask", LT_DT_U8, 2, s34, m));
  check(lt_st_writer_add(wr, "fc2.mask", LT_DT_U8, 1, s3, m));
  check(lt_st_writer_meta(wr, "density", "0.667"));
  check(lt_st_writer_commit(wr, seed_path("safetensors", "mask.safetensors")));
  lt_st_writer_free(wr);
  wr = lt_st_writer_new(); /* no tensors at all */
  check(lt_st_writer_meta(wr, "note", "empty"));
  check(lt_st_writer_commit(wr, seed_path("safetensors", "empty.safetensors")));
  lt_st_writer_free(wr);
}

/* Each document is encoded by lotto.json (compact and indented) and written as a seed. */
static const char *json_docs =
    "local json = ...\n"
    "local out = {}\n"
    "local docs = {\n"
    "  config = { format = 'lotto.run/1', name = 'lenet', seed = 7, rounds = 3, rate = 0.2,\n"
    "    model = { kind = 'lenet300', widths = { 300, 100 } }, rewind = { iter = 0 }, tags = json.array() },\n"
    "  summary = { round = 2, density = 0.64, best = { iter = 600, val_acc = 0.9731, loss = 0.0812 },\n"
    "    layers = { { name = 'fc1', kept = 150528, total = 235200 } }, done = true },\n"
    "  results = { rounds = { { density = 1, acc = { 0.97, 0.971 } }, { density = 0.8, acc = { 0.972, json.null } } },\n"
    "    method = 'imp', notes = 'tab\\tquote\"back\\\\slash nul\\0 \\1 é', big = 1e300, tiny = 2.5e-300,\n"
    "    neg = -0.0, maxint = math.maxinteger, minint = math.mininteger },\n"
    "  metrics = { iter = 100, epoch = 0.2, loss = 0.3456789, acc = 0.91, lr = 0.0012 },\n"
    "  nested = { { { { {} } } }, json.array({}), { a = { b = { c = { d = 'e' } } } } },\n"
    "  scalars = { 0, -1, 3.5, true, false, 'x' },\n"
    "}\n"
    "for name, d in pairs(docs) do\n"
    "  out[name .. '.json'] = json.encode(d)\n"
    "  out[name .. '.pretty.json'] = json.encode(d, { indent = true })\n"
    "end\n"
    "out['lines.jsonl'] = json.encode(docs.metrics) .. '\\n' .. json.encode(docs.metrics)\n"
    "return out\n";

static void json_seeds(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  luaL_requiref(L, "lotto.json", luaopen_lotto_json, 0);
  if (luaL_loadstring(L, json_docs) != LUA_OK || (lua_insert(L, -2), lua_pcall(L, 1, 1, 0)) != LUA_OK) {
    fprintf(stderr, "fuzz_seeds: %s\n", lua_tostring(L, -1));
    exit(1);
  }
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    size_t n;
    const char *s = lua_tolstring(L, -1, &n);
    put("json", lua_tostring(L, -2), s, n);
    lua_pop(L, 1);
  }
  lua_close(L);
}

static void be32(unsigned char *p, uint32_t v) { p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v; }

static size_t idx_images(unsigned char *b, uint32_t n, uint32_t r, uint32_t c) {
  be32(b, 0x803), be32(b + 4, n), be32(b + 8, r), be32(b + 12, c);
  for (size_t i = 0; i < (size_t)n * r * c; i++) b[16 + i] = (unsigned char)(i * 37);
  return 16 + (size_t)n * r * c;
}

static size_t idx_labels(unsigned char *b, uint32_t n) {
  be32(b, 0x801), be32(b + 4, n);
  for (uint32_t i = 0; i < n; i++) b[8 + i] = (unsigned char)(i % 10);
  return 8 + n;
}

/* A seed of the mode byte followed by p[0..n) as a gzip member. */
static void put_gz(const char *harness, const char *name, unsigned char mode, const unsigned char *p, size_t n) {
  z_stream s;
  memset(&s, 0, sizeof s);
  if (deflateInit2(&s, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) exit(1);
  size_t cap = 1 + deflateBound(&s, (uLong)n) + 32;
  unsigned char *z = malloc(cap);
  if (!z) exit(1);
  s.next_in = (Bytef *)p, s.avail_in = (uInt)n, s.next_out = z + 1, s.avail_out = (uInt)(cap - 1);
  if (deflate(&s, Z_FINISH) != Z_STREAM_END) exit(1);
  z[0] = mode;
  put(harness, name, z, cap - s.avail_out);
  deflateEnd(&s);
  free(z);
}

static void idx_seeds(void) {
  unsigned char b[1 + 2 + 16 + 3 * 5 * 4 + 8 + 3];
  size_t ni = idx_images(b + 1, 3, 5, 4);
  b[0] = 0, put("idx", "images", b, 1 + ni);
  b[0] = 4, put("idx", "images.gzmode", b, 1 + ni);
  put_gz("idx", "images.gz", 0, b + 1, ni);
  size_t nl = idx_labels(b + 1, 3);
  b[0] = 1, put("idx", "labels", b, 1 + nl);
  b[0] = 5, put("idx", "labels.gzmode", b, 1 + nl);
  put_gz("idx", "labels.gz", 1, b + 1, nl);
  ni = idx_images(b + 3, 3, 5, 4); /* a data set: images then labels */
  nl = idx_labels(b + 3 + ni, 3);
  b[1] = (unsigned char)(ni & 0xff), b[2] = (unsigned char)(ni >> 8);
  b[0] = 2, put("idx", "dataset", b, 3 + ni + nl);
  b[0] = 6, put("idx", "dataset.gzmode", b, 3 + ni + nl);
}

static void cifar_seeds(void) {
  static unsigned char b[2 + 2 * 3073];
  for (size_t i = 0; i < 2 * 3073; i++) b[2 + i] = (unsigned char)(i * 13);
  b[2] = 3, b[2 + 3073] = 9;
  b[0] = b[1] = 0xff;
  put("cifar", "one-batch", b, 2 + 2 * 3073);
  b[0] = (unsigned char)(3073 & 0xff), b[1] = (unsigned char)(3073 >> 8);
  put("cifar", "two-batches", b, 2 + 2 * 3073);
  b[0] = b[1] = 0xff;
  put("cifar", "one-record", b, 2 + 3073);
}

/* Exports m with a deterministic pattern: values, and masks kept where (i % every) == 0
 * (every = 0: all pruned). */
static void export_seed(lt_model *m, const char *name, int every) {
  if (!m) check(-1);
  float *v = lt_tensor_data(lt_model_values(m)), *mk = lt_tensor_data(lt_model_masks(m));
  for (size_t i = 0; i < lt_tensor_numel(lt_model_values(m)); i++)
    v[i] = 0.01f * (float)(i % 97) - 0.4f, mk[i] = every > 0 && i % (size_t)every == 0;
  lt_model_apply_mask(m);
  check(lt_model_export(m, seed_path("sparse", name), NULL));
}

static void sparse_seeds(void) {
  static const struct { const char *name; int every; } mlp[] = {{"mlp-bitmap", 2}, {"mlp-delta8", 17}, {"mlp-empty", 0}};
  for (int k = 0; k < 3; k++) {
    lt_layer *kids[] = {lt_flatten_new(), lt_linear_new(16, 12, 1), lt_relu_new(), lt_linear_new(12, 3, 1)};
    lt_model *m = lt_model_new(lt_sequential_new(4, kids), 2, (int64_t[]){4, 4});
    export_seed(m, mlp[k].name, mlp[k].every);
    lt_model_free(m);
  }
  lt_layer *body_kids[] = {lt_conv2d_new(2, 2, 3, 1, 1, 0), lt_batchnorm_new(2), lt_relu_new()};
  lt_layer *kids[] = {lt_conv2d_new(1, 2, 3, 1, 1, 1), lt_residual_new(lt_sequential_new(3, body_kids), NULL),
                      lt_maxpool2d_new(2, 2), lt_flatten_new(), lt_linear_new(8, 3, 1)};
  lt_model *m = lt_model_new(lt_sequential_new(5, kids), 3, (int64_t[]){1, 4, 4});
  export_seed(m, "conv", 3);
  lt_model_free(m);
}

int main(int argc, char **argv) {
  if (argc != 2 || strcmp(argv[1], "--help") == 0) {
    printf("usage: fuzz_seeds DIR\nwrites the seed corpora of the fuzz harnesses into DIR/<harness>/\n");
    return argc == 2 ? 0 : 2;
  }
  dir = argv[1];
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
    perror(dir);
    return 1;
  }
  safetensors_seeds();
  json_seeds();
  idx_seeds();
  cifar_seeds();
  sparse_seeds();
  return 0;
}
