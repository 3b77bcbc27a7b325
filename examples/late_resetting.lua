-- late_resetting.lua: rewinding to iteration k (Frankle et al. 2019, "Stabilizing the
-- lottery ticket hypothesis") against resetting to iteration 0. For each k, IMP on
-- LeNet-300-100 / MNIST rewinds the surviving weights to their values θk at iteration
-- k of the dense run and retrains from there (same data order, same schedule).
--
--   lotto examples/late_resetting.lua            k = 0, 20, 100, 300; 2 seeds, 6 rounds, 600 iterations
--   lotto examples/late_resetting.lua --full     k = 0, 100, 500, 1000, 2000; 5 seeds, 15 rounds, 20,000 iterations
--   lotto examples/late_resetting.lua --restart  start over instead of resuming
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/late_resetting.lua [options]',
  about = 'Frankle et al. (2019), "Stabilizing the lottery ticket hypothesis": IMP of LeNet-300-100\n'
    .. 'on MNIST rewinding the survivors to their values at iteration k of the dense run, for\n'
    .. 'several k, against resetting to iteration 0. Resumes when rerun.',
  scales = {
    { '(default)', 'k = 0, 20, 100, 300; 2 seeds, 6 rounds, 600 iterations', 'about 5 min' },
    { '--full', 'k = 0, 100, 500, 1000, 2000; 5 seeds, 15 rounds, 20,000 iterations', 'about 1 day' },
  },
  options = { { 'full', false, 'the paper scale' }, { 'restart', false, 'start over instead of resuming' } },
})
local full, restart = o.full, o.restart
local ks = full and { 0, 100, 500, 1000, 2000 } or { 0, 20, 100, 300 }

local runs = {}
for _, k in ipairs(ks) do
  local results, run = lotto.ticket.imp {
    name       = ('late_resetting%s/rewind_%d'):format(full and '_full' or '', k),
    model      = 'lenet300',
    data       = 'mnist', data_opts = { val = 5000 },
    optimizer  = { kind = 'adam', lr = 1.2e-3 },
    batch      = 60,
    iterations = full and 20000 or 600,
    eval_every = full and 1000 or 100,
    seeds      = full and { 1, 2, 3, 4, 5 } or { 1, 2 },
    rounds     = full and 15 or 6,
    prune      = { rate = 0.3, output_rate = 0.15 },
    rewind     = k,
    controls   = k == 0 and { 'reinit' } or {},
    restart    = restart,
  }
  runs[#runs + 1] = { k = k, results = results, run = run }
end

-- One table and one plot: test accuracy at early stopping per k.
local header = { ('%10s'):format('remaining') }
for _, r in ipairs(runs) do header[#header + 1] = ('%16s'):format('rewind to ' .. r.k) end
header[#header + 1] = ('%16s'):format('random reinit')
print('\ntest accuracy at early stopping (%, mean ± std over the seeds)')
print(table.concat(header, ' '))
local series = {}
for _, r in ipairs(runs) do series[#series + 1] = { name = ('rewind to iteration %d'):format(r.k), x = {}, y = {}, err = {} } end
series[#series + 1] = { name = 'random reinit', x = {}, y = {}, err = {} }
for i, a in ipairs(runs[1].results.aggregate) do
  local row = { ('%9.1f%%'):format(a.remaining_pct) }
  local function add(s, st)
    row[#row + 1] = st and ('%16s'):format(('%.2f ± %.2f'):format(100 * st.mean, 100 * st.std)) or ('%16s'):format('-')
    if st then s.x[#s.x + 1], s.y[#s.y + 1], s.err[#s.err + 1] = a.remaining_pct, 100 * st.mean, 100 * st.std end
  end
  for j, r in ipairs(runs) do
    local b = r.results.aggregate[i]
    add(series[j], b and b.methods.ticket.early_stop_test_acc)
  end
  add(series[#series], a.methods.reinit and a.methods.reinit.early_stop_test_acc)
  print(table.concat(row, ' '))
end
local dir = runs[1].run.root .. '/late_resetting' .. (full and '_full' or '')
local ticks = {} -- one tick per density
for _, a in ipairs(runs[1].results.aggregate) do ticks[#ticks + 1] = a.remaining_pct end
for i, s in ipairs(series) do s.xshift = 10 ^ ((i - (#series + 1) / 2) * 0.006) end -- bars side by side
local img, err = lotto.plot.lines {
  out = dir .. '/late_resetting', title = 'LeNet-300-100 on MNIST: late resetting',
  caption = ('runs under %s · mean ± std over %d seeds'):format(dir, #runs[1].run:replicates()),
  xlabel = 'weights remaining (%)', ylabel = 'test accuracy at early stop (%)',
  logx = true, reverse_x = true, key = 'bottom left', series = series, xtics = ticks,
}
print(img and ('\nplot: ' .. img) or ('\nplot not drawn: ' .. tostring(err)))
