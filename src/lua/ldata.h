/* ldata.h: the data set userdata ("lotto.dataset") for other bindings.
 * A Lua data set holds one reference to an lt_dataset; C code borrows it. */
#ifndef LOTTO_LDATA_H
#define LOTTO_LDATA_H

#include <lua.h>

#include "lotto/data.h"

#define LT_DATASET_MT "lotto.dataset"
#define LT_LOADER_MT "lotto.loader"

/* The data set at index i, or a Lua error naming argument i. Borrowed: retain it to keep it. */
lt_dataset *lt_checkdataset(lua_State *L, int i);
/* Pushes a userdata holding d; takes over the caller's reference. d == NULL raises lt_errmsg(). */
void lt_pushdataset(lua_State *L, lt_dataset *d);

#endif
