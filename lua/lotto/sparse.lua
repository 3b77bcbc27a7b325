-- lotto.sparse: sparse weights and kernels (C, lotto.core.sparse). For now a
-- thin wrapper; model-level dispatch (dense or CSR per layer from the measured
-- crossover), export and load will live here.
--
--   local sparse = require 'lotto.sparse'
--   local w = sparse.csr(weight, mask)          -- weight, mask: (out, in) tensors
--   local y = w:matmul_t(x)                     -- (B, out) = x (B, in) . W^T
--   local dx, dw = w:backward_input(dy), w:weight_grad(x, dy)
--   w:refresh(weight)                           -- after an optimizer step
--   local cross, timings = sparse.calibrate(300, 784, 60)
local core = require 'lotto.core.sparse'

local M = {}

M.csr = core.csr             -- (weight, mask) -> csr userdata
M.bench = core.bench         -- (rows, cols, batch, density [, reps]) -> timings (microseconds)
M.calibrate = core.calibrate -- (rows, cols, batch [, {densities=, reps=}]) -> crossover, timings
M.crossover = core.crossover -- (rows, cols, batch) -> default crossover density

--- Whether a (rows, cols) layer at this density and batch should run sparse,
-- by the default crossover (a measured one may be passed as `cross`).
function M.prefer_sparse(rows, cols, batch, density, cross)
  return density < (cross or core.crossover(rows, cols, batch))
end

return M
