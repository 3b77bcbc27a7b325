-- lotto.lmc: linear mode connectivity and instability (Frankle et al., ICML 2020).
-- Two copies of a network start from one state θk and train with different data
-- orders; the error along the straight line between the two results shows whether
-- SGD noise lands them in one linearly connected minimum (instability < 2%).
--
--   local lmc = lotto.lmc
--   local r = lmc.instability{ model = m, state = theta0, data = mnist,
--     train = { optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60, iterations = 3000 } }
--   print(r.instability, r.errors[1], r.errors[2])
--
-- lmc.analyze{...} runs the grid (rewind points k x dense net and IMP subnetworks)
-- into the run store and plots it. The parts: lmc/instability.lua (interpolate,
-- barrier, instability) and lmc/analyze.lua (the grid, its defaults and plots).
-- Batchnorm statistics of an interpolated network: lotto.nn.reset_bn_stats.
local inst = require 'lotto.lmc.instability'
local analyze = require 'lotto.lmc.analyze'

local M = {}

M.interpolate, M.barrier, M.instability = inst.interpolate, inst.barrier, inst.instability
M.analyze, M.defaults = analyze.analyze, analyze.defaults

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    interpolate = "interpolate(model, θA, θB, data, {points = 30, split = 'test', batch =, bn_reset = true, ...}) "
      .. '-> {alpha, error, loss}: the straight line between two states',
    barrier = "barrier(curve[, key = 'error']) -> max along the path - mean of the endpoints",
    instability = 'instability{model =, state = θk, mask =, data =, train = {...}, seeds = {1, 2}, start = k, ...} '
      .. '-> {instability, errors, curve, states, histories, loss_barrier}',
    analyze = 'analyze{name =, model =, data =, train =, rewind = {k...}, dense =, imp =, ...} -> results, dir\n'
      .. 'Instability of the dense net and IMP subnetworks at each rewind point. Options:\n' .. analyze.describe(),
    defaults = 'defaults: every option of analyze{...} with its default\n' .. analyze.describe(),
  })
end

return M
