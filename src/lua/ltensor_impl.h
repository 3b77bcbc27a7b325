/* ltensor_impl.h: what the tensor binding's files share (ltensor.c, the userdata;
 * ltensor_math.c, the computing methods). Not for other bindings (lbind.h). */
#ifndef LOTTO_LTENSOR_IMPL_H
#define LOTTO_LTENSOR_IMPL_H

#include <lauxlib.h>

#include "lotto/tensor.h"

/* A new tensor userdata holding NULL, metatable set: fill it before anything can fail. */
lt_tensor **lt_newtensorslot(lua_State *L);
/* Pushes a new zero tensor of that shape; raises on failure. */
lt_tensor *lt_pushnewtensor(lua_State *L, int ndim, const int64_t *shape);
/* A 1-based dim argument of t, returned 0-based (an error names the argument). */
int lt_checkdim(lua_State *L, int arg, const lt_tensor *t);
/* Raises lt_errmsg() when st is not LT_OK. */
void lt_checkstatus(lua_State *L, lt_status st);

extern const luaL_Reg lt_tensor_math_methods[]; /* add, sub, ..., sum, ..., matmul */
extern const luaL_Reg lt_tensor_math_meta[];    /* __add, __sub, __mul, __div, __unm */

#endif
