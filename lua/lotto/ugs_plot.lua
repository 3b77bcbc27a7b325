-- ugs_plot.lua: the plots and the table of a UGS run (lotto.ugs): test accuracy vs graph
-- sparsity and vs weight sparsity (UGS ticket vs random pruning, mean +- std over seeds, the
-- dense accuracy as a line), and accuracy vs inference MAC savings. Each plot writes its .dat
-- and .gp beside the image (lotto.plot.lines).
--
--   require('lotto.ugs_plot').run('runs/ugs')          -- runs/ugs/plots/*.png
--   require('lotto.ugs_plot').report(results)          -- one line per round
local E = require 'lotto.experiment'
local json = require 'lotto.json'
local plot = require 'lotto.plot'

local P = {}

local NAMES = { ticket = 'UGS ticket', random = 'random pruning (RP)' }

local function results_of(src)
  if type(src) == 'table' and src.aggregate then return src end
  if type(src) == 'table' and src.results then return src.results end
  local run, err = E.load(src)
  if not run then return nil, err end
  return run.results
end

local function mean(st, key) return st and st[key] and st[key].mean end
local function std(st, key) return st and st[key] and st[key].std or 0 end

-- Series of `method`: x from xf(stats), y = mean test accuracy (%), err = std (%).
local function series(res, method, xf)
  local s = { name = NAMES[method] or method, x = {}, y = {}, err = {} }
  for _, row in ipairs(res.aggregate) do
    local st = row.methods and row.methods[method]
    if method ~= 'ticket' and row.round == 0 then st = row.methods and row.methods.ticket end -- shared dense start
    if st and mean(st, 'test_acc') then
      s.x[#s.x + 1] = xf(st)
      s.y[#s.y + 1] = 100 * mean(st, 'test_acc')
      s.err[#s.err + 1] = 100 * std(st, 'test_acc')
    end
  end
  return s
end

local function methods(res)
  local out = { 'ticket' }
  local seen = { ticket = true }
  for _, row in ipairs(res.aggregate) do
    for m in pairs(row.methods or {}) do
      if not seen[m] then seen[m] = true; out[#out + 1] = m end
    end
  end
  table.sort(out, function(a, b) return (a == 'ticket') or (b ~= 'ticket' and a < b) end)
  return out
end

-- P.run(dir | run | results[, {out = dir, format = 'png'|'svg'|'dumb', quiet =}]) -> images, or nil, message
function P.run(src, opts)
  opts = opts or {}
  local res, err = results_of(src)
  if not res then return nil, err end
  local outdir = opts.out or ((type(src) == 'string' and src or '.') .. '/plots')
  assert(require('lotto.fs').mkdir_p(outdir))
  local dense = res.dense and res.dense.test_acc and { y = 100 * res.dense.test_acc.mean, name = 'dense' } or nil
  local what = ('%s %s'):format(tostring(res.config and res.config.model or ''), tostring(res.config and res.config.data or ''))
  local specs = {
    { out = 'accuracy_vs_graph_sparsity', xlabel = 'graph sparsity (% of edges pruned)',
      x = function(st) return 100 * (1 - mean(st, 'graph_density')) end },
    { out = 'accuracy_vs_weight_sparsity', xlabel = 'weight sparsity (% of weights pruned)',
      x = function(st) return 100 * (1 - mean(st, 'weight_density')) end },
    { out = 'accuracy_vs_mac_savings', xlabel = 'inference MAC savings (% of dense)',
      x = function(st) return 100 * (1 - mean(st, 'macs_rel')) end },
  }
  local files = {}
  for _, sp in ipairs(specs) do
    local ss = {}
    for _, m in ipairs(methods(res)) do ss[#ss + 1] = series(res, m, sp.x) end
    local img, perr = plot.lines { out = outdir .. '/' .. sp.out, format = opts.format, print = opts.format == 'dumb' and not opts.quiet,
      title = ('UGS on %s: test accuracy at the best validation epoch'):format(what), xlabel = sp.xlabel,
      ylabel = 'test accuracy (%)', key = 'bottom left', series = ss, hline = dense }
    if img then files[#files + 1] = img elseif perr and not opts.quiet then print('skipped: ' .. perr) end
  end
  if not opts.quiet then
    for _, f in ipairs(files) do print('wrote ' .. f) end
  end
  return files
end

local function cell(st)
  if not (st and st.test_acc) then return '        -       ' end
  return ('%6.2f +- %4.2f%%'):format(100 * st.test_acc.mean, 100 * st.test_acc.std)
end

-- P.report(results) -> text: one line per round (edges and weights kept, MACs, accuracies).
function P.report(src)
  local res = assert(results_of(src))
  local ms = methods(res)
  local head = { ' round  edges%  weights%   MACs%' }
  for _, m in ipairs(ms) do head[#head + 1] = ('  %-18s'):format(NAMES[m] and m or m) end
  local lines = { table.concat(head) }
  for _, row in ipairs(res.aggregate) do
    local t = row.methods and row.methods.ticket
    local parts = { ('%6d  %6.1f  %8.1f  %6.1f'):format(row.round, 100 * (mean(t, 'graph_density') or 1),
      100 * (mean(t, 'weight_density') or 1), 100 * (mean(t, 'macs_rel') or 1)) }
    for _, m in ipairs(ms) do parts[#parts + 1] = '  ' .. cell(row.methods and row.methods[m]) end
    lines[#lines + 1] = table.concat(parts)
  end
  return table.concat(lines, '\n')
end

return P
