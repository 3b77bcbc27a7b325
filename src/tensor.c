/* tensor.c: placeholder until the tensor module lands. */
#include "lotto/tensor.h"
