/* ljson.h: what the two halves of lotto.json share: ljson.c (encoder, files, json.fs,
 * luaopen_lotto_json) and ljson_decode.c (the decoder). Private to src/lua. */
#ifndef LOTTO_LJSON_H
#define LOTTO_LJSON_H

#include <lua.h>
#include <stddef.h>

#define LT_JSON_ARRAY_MT "lotto.json.array" /* marks a table that encodes as an array */

/* Decodes s[0..n): pushes the value and returns 1, or pushes a message and returns 0. */
int lt_json_decode_buf(lua_State *L, const char *s, size_t n);
/* json.decode(s) -> value | nil, message */
int lt_json_decode(lua_State *L);
/* Creates the decoder's metatables; luaopen_lotto_json calls it once. */
void lt_json_decode_init(lua_State *L);

#endif
