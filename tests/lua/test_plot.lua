-- test_plot.lua: lotto.plot on a hand-made run — .dat/.gp written beside each image,
-- .dat numbers equal the aggregated results, reversed log x axis, PNG/SVG/dumb output,
-- and the message when gnuplot is missing. Image checks are skipped without gnuplot.
local P = lotto.plot
local E = lotto.experiment
local fs = lotto.fs

local failures = 0
local function check(cond, msg)
  if not cond then
    failures = failures + 1
    io.stderr:write('FAIL: ', msg or '?', '\n', debug.traceback(), '\n')
  end
end
local function slurp(p)
  local f = io.open(p, 'rb')
  if not f then return nil end
  local s = f:read('a')
  f:close()
  return s
end
-- Blocks of a .dat file: { {name=, rows={{x, y, ...}, ...}}, ... }
local function read_dat(p)
  local blocks, cur = {}, nil
  for line in (slurp(p) or ''):gmatch('[^\n]*') do
    local name = line:match('^# series %d+: (.*)$')
    if name then
      cur = { name = name, rows = {} }
      blocks[#blocks + 1] = cur
    elseif cur and line:match('^[%d%-]') then
      local row = {}
      for v in line:gmatch('%S+') do row[#row + 1] = tonumber(v) end
      cur.rows[#cur.rows + 1] = row
    end
  end
  return blocks
end
local function close(a, b) return type(a) == 'number' and math.abs(a - b) < 1e-6 end

local have = P.have_gnuplot()
if not have then print('test_plot: gnuplot not found, skipping the image checks (install gnuplot-nox)') end

-- a hand-made run: 2 seeds x 3 rounds, metrics for seed 1
local root = (os.getenv('LOTTO_TEST_TMP') or 'tmp') .. '/test_plot'
assert(fs.remove_tree(root))
local run = E.open { root = root, name = 'lenet_plot', config = { rate = 0.2 } }
local acc = { ticket = { 0.98, 0.985, 0.99 }, reinit = { 0.98, 0.97, 0.95 } }
for seed = 1, 2 do
  for k = 0, 2 do
    local pct = 100 * 0.8 ^ k
    local runs = {}
    for m, a in pairs(acc) do
      runs[m] = { early_stop_iter = 1000 * (k + 1) + 100 * seed, early_stop_test_acc = a[k + 1] + 0.002 * (seed - 1.5),
        final_test_acc = a[k + 1] - 0.01, final_iter = 3000 }
      if seed == 1 then
        for it = 0, 3000, 500 do run:log_metric(seed, k, { method = m, iter = it, test_acc = a[k + 1] * it / 3000 }) end
      end
    end
    run:write_summary(seed, k, { round = k, density = pct / 100, remaining_pct = pct, runs = runs, seconds = 1 })
  end
end

-- plot.run writes every plot with its .dat and .gp
local files, err = P.run(run.dir, { quiet = true })
local pdir = run.dir .. '/plots'
for _, name in ipairs { 'accuracy_vs_sparsity', 'early_stop', 'final_accuracy', 'curves_ticket' } do
  check(fs.exists(pdir .. '/' .. name .. '.dat') and fs.exists(pdir .. '/' .. name .. '.gp'), name .. ': .dat and .gp written')
end
if have then
  check(files and #files == 4, 'plot.run returns four images: ' .. tostring(err))
  for _, f in ipairs(files or {}) do
    check(f:match('%.png$') and (slurp(f) or ''):sub(1, 8) == '\137PNG\r\n\26\n', f .. ' is a PNG')
  end
else
  check(files == nil and err:find('gnuplot not found', 1, true), 'plot.run reports the missing gnuplot')
end

-- the .dat numbers are the aggregate: mean x100 with ± std bars (the default), x = % remaining;
-- seeds 1 and 2 sit at a -/+ 0.001, so std = sqrt(2 * 0.001^2 / 1) = 0.0014142
local blocks = read_dat(pdir .. '/accuracy_vs_sparsity.dat')
check(#blocks == 2 and blocks[1].name == 'winning ticket' and blocks[2].name == 'random reinit', 'one block per method, ticket first')
local t = blocks[1].rows
check(#t == 3 and close(t[1][1], 100) and close(t[2][1], 80) and close(t[3][1], 64), 'x = percent remaining')
check(close(t[2][2], 98.5) and close(t[2][3], 98.5 - 0.141421356) and close(t[2][4], 98.5 + 0.141421356), 'y = mean %, bars = ± std')
check(close(blocks[2].rows[3][2], 95), 'reinit at 64%')
check(slurp(pdir .. '/accuracy_vs_sparsity.dat'):find('# hline: 98 dense', 1, true), 'dense accuracy as hline')
local es = read_dat(pdir .. '/early_stop.dat')
check(close(es[1].rows[3][2], 3150) and close(es[1].rows[3][3], 3150 - 70.71067812) and close(es[1].rows[3][4], 3150 + 70.71067812),
  'early-stop iterations, ± std (3100 and 3200)')
P.early_stop(run.dir, { err = 'minmax', out = root .. '/es_minmax' })
local mm = read_dat(root .. '/es_minmax.dat')
check(mm[1] and close(mm[1].rows[3][3], 3100) and close(mm[1].rows[3][4], 3200), "err = 'minmax': bars from min to max")
P.early_stop(run.dir, { err = 'ci95', out = root .. '/es_ci' })
local ci = read_dat(root .. '/es_ci.dat')
check(ci[1] and close(ci[1].rows[3][4], 3150 + 1.96 * 70.71067812 / math.sqrt(2)), "err = 'ci95': 1.96 std / sqrt(n)")
local cv = read_dat(pdir .. '/curves_ticket.dat')
check(#cv == 3 and cv[3].name == '64% remaining (round 2)' and close(cv[3].rows[7][2], 99), 'curves: one line per round, labelled')

-- the script: reversed log x axis, data found beside the script, title and labels
local gp = slurp(pdir .. '/accuracy_vs_sparsity.gp')
check(gp:find('set logscale x', 1, true), 'log x axis')
local a, b = gp:match('set xrange %[([%d%.e+-]+):([%d%.e+-]+)%]')
check(a and tonumber(a) > 100 and tonumber(b) < 64, 'x range reversed (100 on the left): ' .. tostring(a) .. ':' .. tostring(b))
check(gp:find("ARG0", 1, true) and gp:find("data = base . '.dat'", 1, true), 'script finds its .dat beside itself')
check(gp:find("set title 'test accuracy at early stopping'", 1, true), 'title: what is plotted')
check(gp:find("run " .. run.dir .. " · mean ± std over 2 seeds'", 1, true), 'caption: the run, the bars, the number of seeds')
check(gp:find('using ($1*', 1, true), 'series shifted apart on x')
check(gp:find("set xlabel 'weights remaining (%)'", 1, true), 'x label')
check(gp:find("title 'winning ticket'", 1, true) and gp:find('yerrorlines', 1, true), 'legend entries with error bars')

if have then
  -- rerunning the written script from elsewhere regenerates the image
  local png = pdir .. '/early_stop.png'
  os.remove(png)
  check(os.execute("gnuplot '" .. pdir .. "/early_stop.gp' 2>/dev/null") and fs.exists(png), 'gnuplot <out>.gp reruns')

  -- dumb terminal: text returned, contains the title
  local text = P.accuracy_vs_sparsity(run.dir, { format = 'dumb', out = root .. '/acc', print = false })
  check(type(text) == 'string' and text:find('test accuracy at early stopping', 1, true), 'dumb output has the title')
  check(text and text:find('winning ticket', 1, true) and text:find('100', 1, true), 'dumb output has legend and ticks')
  local svg = P.early_stop(run, { out = root .. '/es.svg' })
  check(svg == root .. '/es.svg' and (slurp(svg) or ''):find('<svg', 1, true), 'svg output from the extension')
end

-- generic helpers: lines and heatmap
local path, lerr = P.lines { out = root .. '/gen', title = 'generic', xlabel = 'k', ylabel = 'v', format = 'png',
  series = { { name = 'a', x = { 1, 2, 3 }, y = { 1, 4, 9 }, err = { 0.5, 0.5, 1 } }, { name = 'b', x = { 1, 2 }, y = { 2, 0 / 0 } } },
  hline = { y = 5, name = 'five' } }
local g = read_dat(root .. '/gen.dat')
check(#g == 2 and close(g[1].rows[3][3], 8) and close(g[1].rows[3][4], 10), 'symmetric err -> low/high columns')
check(#g[2].rows == 1, 'NaN points dropped')
check(not have or path == root .. '/gen.png', 'lines returns the image: ' .. tostring(lerr))
check(select(2, P.lines { out = root .. '/empty', series = { { x = {}, y = {} } } }):find('nothing to plot'), 'empty plot refused')
local hm = P.heatmap { out = root .. '/heat', matrix = { { 0, 0.25 }, { 0.25, 0 } }, labels = { '100%', '80%' }, title = 'dist' }
check(slurp(root .. '/heat.dat'):find('\n0 0.25\n0.25 0\n', 1, true), 'heatmap matrix rows')
check(not have or (slurp(root .. '/heat.png') or ''):sub(2, 4) == 'PNG', 'heatmap png: ' .. tostring(hm))
check(not pcall(P.heatmap, { out = root .. '/h2', matrix = { { 1, 2 }, { 3 } } }), 'ragged matrix is an error')
check(not pcall(P.lines, { out = root .. '/x', format = 'gif', series = {} }), 'unknown format is an error')

-- accuracy vs theoretical speed-up (each round's cost): x = mean speed-up, y = mean accuracy %
check(select(2, P.accuracy_vs_speedup(run.dir, { out = root .. '/nosp' })):find('nothing to plot', 1, true),
  'a run without costs has no speed-up plot')
local run2 = E.open { root = root, name = 'speedup_plot', config = { rate = 0.2 } }
for seed = 1, 2 do
  for k = 0, 1 do
    run2:write_summary(seed, k, { round = k, density = 1, remaining_pct = 100,
      runs = { ticket = { early_stop_test_acc = 0.9 + 0.02 * k + 0.01 * seed } },
      cost = { macs = 100, macs_kept = k == 0 and 100 or 25, speedup = k == 0 and 1 or 4 + seed } })
  end
end
P.accuracy_vs_speedup(run2.dir, { out = root .. '/speedup' })
local sp = read_dat(root .. '/speedup.dat')
check(#sp == 1 and #sp[1].rows == 2, 'one line, one point per round')
check(close(sp[1].rows[1][1], 1) and close(sp[1].rows[1][2], 91.5), 'round 0: speed-up 1, accuracy 91.5%')
check(close(sp[1].rows[2][1], 5.5) and close(sp[1].rows[2][2], 93.5), 'round 1: mean speed-up 5.5, accuracy 93.5%')

-- without gnuplot: data and script are still written, and the message says what to install
local saved = P.gnuplot
P.gnuplot = '/nonexistent/gnuplot'
local none, msg = P.accuracy_vs_sparsity(run.dir, { out = root .. '/nognu' })
P.gnuplot = saved
check(none == nil and msg:find('gnuplot not found: install gnuplot-nox (Debian) or gnuplot', 1, true), 'missing gnuplot message: ' .. tostring(msg))
check(msg and msg:find(root .. '/nognu.dat', 1, true) and fs.exists(root .. '/nognu.gp'), 'data and script written anyway')

-- a directory of runs (late_resetting/rewind_<k>): lotto plot draws each and one comparison
for _, k in ipairs { 100, 20 } do
  local g = E.open { root = root .. '/group', name = 'rewind_' .. k, config = { rewind = k } }
  for kk = 0, 1 do
    g:write_summary(1, kk, { round = kk, density = 0.8 ^ kk, remaining_pct = 100 * 0.8 ^ kk,
      runs = { ticket = { early_stop_test_acc = 0.9 + k / 10000 + kk / 100 } } })
  end
  assert(g:write_results(assert(g:aggregate())))
end
local subs = P.subruns(root .. '/group')
check(#subs == 2 and subs[1] == 'rewind_20' and subs[2] == 'rewind_100', 'sub-runs in numeric order')
P.run(root .. '/group', { quiet = true })
local cmp = read_dat(root .. '/group/plots/compare.dat')
check(#cmp == 2 and cmp[1].name == 'rewind_20: winning ticket' and close(cmp[2].rows[2][2], 100 * (0.9 + 0.01 + 0.01)),
  'comparison: one series per run and method, labelled by the run')

fs.remove_tree(root)
if failures > 0 then
  io.stderr:write(failures, ' check(s) failed\n')
  os.exit(1)
end
if not have then os.exit(77) end
print('test_plot: ok')
