-- plot.lua: gnuplot plots of lottery-ticket runs. Every plot writes <out>.dat (the numbers)
-- and <out>.gp (filled from a template in plots/) beside the image, so `gnuplot <out>.gp`
-- redraws it after restyling. Formats: png, svg, dumb (text, for the REPL).
local E = require 'lotto.experiment'
local fs = require 'lotto.fs'
local controls = require 'lotto.ticket.controls'
local U = require 'lotto.util'

local P = { gnuplot = os.getenv('LOTTO_GNUPLOT') or 'gnuplot', extra = {} }

local EXT = { png = '.png', svg = '.svg', dumb = '.txt' }
local TERMINAL = {
  png = "set terminal pngcairo size 900,600 noenhanced font 'Sans,12' linewidth 1.2",
  svg = "set terminal svg size 900,600 dynamic noenhanced font 'Sans,12' linewidth 1.2",
  dumb = 'set terminal dumb size 100,32 noenhanced',
}
-- Display names and order of the IMP methods: the ticket, then the controls of
-- lotto.ticket.controls (read at each plot, so a control registered there shows here).
local function label(m)
  if m == 'ticket' then return 'winning ticket' end
  local c = controls[m]
  return type(c) == 'table' and c.label or m
end

-- ---- templates, gnuplot and files --------------------------------------------------

local function plots_dir()
  if P.plots_dir then return P.plots_dir end
  local cands = {}
  if type(LOTTO_ROOT) == 'string' then cands[#cands + 1] = LOTTO_ROOT .. '/plots' end
  if os.getenv('LOTTO_SOURCE_DIR') then cands[#cands + 1] = os.getenv('LOTTO_SOURCE_DIR') .. '/plots' end
  local src = debug.getinfo(1, 'S').source
  local here = src:sub(1, 1) == '@' and src:sub(2):match('^(.-)/?lua/lotto/plot%.lua$')
  if here then cands[#cands + 1] = (here == '' and '.' or here) .. '/plots' end
  for _, d in ipairs(cands) do
    if fs.exists(d .. '/lines.gp') then return d end
  end
  U.raise('gnuplot templates not found (looked in ' .. table.concat(cands, ', ') .. '); set LOTTO_ROOT')
end

local function fill(name, vars)
  local path = plots_dir() .. '/' .. name .. '.gp'
  local f = assert(io.open(path, 'r'))
  local text = f:read('a')
  f:close()
  return (text:gsub('@([%u_]+)@', function(k)
    if vars[k] == nil then U.raise(('template %s: no value for @%s@'):format(path, k)) end
    return tostring(vars[k])
  end))
end

local function find_gnuplot()
  local g = P.gnuplot
  if g:find('/') then return fs.exists(g) and g or nil end
  for d in (os.getenv('PATH') or ''):gmatch('[^:]+') do
    if fs.exists(d .. '/' .. g) then return d .. '/' .. g end
  end
end
P.have_gnuplot = function() return find_gnuplot() ~= nil end

-- 'early_stop_test_acc' -> 'early stop test accuracy'
local function metric_label(m)
  local words = {}
  for w in m:gmatch('[^_]+') do words[#words + 1] = ({ acc = 'accuracy', val = 'validation', iter = 'iteration' })[w] or w end
  return table.concat(words, ' ')
end

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function gpq(s) return (tostring(s):gsub("'", "''"):gsub('\n', ' ')) end
local function num(x) return ('%.10g'):format(x) end
local function tick(x) return x >= 1 and ('%.3g'):format(x) or ('%.2g'):format(x) end

local function write_file(path, text) return fs.write_atomic(path, text) end

-- Parses {out=, format=}: out may carry the extension; returns base, format.
local function output(opts, default_out)
  local out = opts.out or default_out
  if type(out) ~= 'string' or out == '' then U.raise("plot: option 'out' (output path without extension) is required") end
  local stem, ext = out:match('^(.*)%.(%a+)$')
  local format = opts.format
  if stem and (ext == 'png' or ext == 'svg' or ext == 'txt') then
    out, format = stem, format or (ext == 'txt' and 'dumb' or ext)
  end
  format = format or 'png'
  if not EXT[format] then U.raise(("plot: unknown format '%s' (png, svg or dumb)"):format(tostring(format))) end
  local dir = out:match('^(.*)/[^/]*$')
  if dir and dir ~= '' then
    local ok, err = fs.mkdir_p(dir)
    if not ok then return nil, err end
  end
  return out, format
end

-- Writes the script, runs gnuplot on it. Returns image path (or text for dumb), files.
local function render(base, format, template, vars, opts)
  vars.TERMINAL, vars.EXT = TERMINAL[format], EXT[format]
  vars.BASE, vars.GPNAME = gpq(base), base:match('[^/]*$') .. '.gp'
  local gp = base .. '.gp'
  local wok, werr = write_file(gp, fill(template, vars))
  if not wok then return nil, werr end
  local files = { dat = base .. '.dat', gp = gp, image = base .. EXT[format] }
  local exe = find_gnuplot()
  if not exe then
    return nil, ('gnuplot not found: install gnuplot-nox (Debian) or gnuplot; data and script written to %s and %s')
      :format(files.dat, gp), files
  end
  local pipe = assert(io.popen(shq(exe) .. ' ' .. shq(gp) .. ' 2>&1'))
  local log = pipe:read('a')
  local ok = pipe:close()
  if not ok or not fs.exists(files.image) then
    return nil, ('gnuplot failed on %s: %s'):format(gp, log ~= '' and log or 'no output'), files
  end
  if format ~= 'dumb' then return files.image, files end
  local f = assert(io.open(files.image))
  local text = f:read('a')
  f:close()
  if opts.print == false then return text, files end
  io.write(text)
  return files.image, files
end

-- ---- the generic line plot -------------------------------------------------------

local function xaxis(spec, xs)
  local lines = {}
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(xs) do lo, hi = math.min(lo, x), math.max(hi, x) end
  if spec.logx then lines[#lines + 1] = 'set logscale x 10' end
  local xtics = spec.xtics
  if not xtics and spec.logx and lo > 0 and hi / lo < 100 then
    -- within two decades gnuplot's log axis shows one or two labels at most: put
    -- a labelled tic at each distinct x of the data instead
    local seen, list = {}, {}
    for _, x in ipairs(xs) do if not seen[x] then seen[x] = true; list[#list + 1] = x end end
    table.sort(list)
    xtics = list
  end
  if xtics then
    local t, step = {}, math.max(1, math.ceil(#xtics / 12))
    for i = 1, #xtics, step do t[#t + 1] = ('"%s" %s'):format(tick(xtics[i]), num(xtics[i])) end
    lines[#lines + 1] = 'set xtics (' .. table.concat(t, ', ') .. ')'
    lines[#lines + 1] = 'unset mxtics'
  end
  if spec.reverse_x and lo < hi then -- reversed: largest x on the left
    local a, b
    if spec.logx then a, b = hi * 1.12, lo / 1.12 else a, b = hi + 0.03 * (hi - lo), lo - 0.03 * (hi - lo) end
    lines[#lines + 1] = ('set xrange [%s:%s]'):format(num(a), num(b))
  elseif spec.reverse_x then
    lines[#lines + 1] = 'set xrange [*:*] reverse'
  end
  return table.concat(lines, '\n')
end

-- plot.lines{out=, format=, title=, xlabel=, ylabel=, logx=, logy=, reverse_x=, xtics=,
--   yrange=, key=, series = {{name=, x=, y=, err= | lo=, hi=, style=}}, hline = {y=, name=}}
-- Every plot returns the image path, or nil, message. format 'dumb' prints the text and
-- returns the .txt path; with print = false it returns the text instead.
function P.lines(spec)
  if type(spec) ~= 'table' or type(spec.series) ~= 'table' then U.raise("plot.lines: expected {series = {...}, out = ...}") end
  local base, format = output(spec)
  if not base then return nil, format end
  local dat = { '# lotto plot data: ' .. (spec.title or ''),
    '# one block per series (gnuplot index 0, 1, ...); columns: x y [ylow yhigh]' }
  local plots, xs, index = {}, {}, 0
  for i, s in ipairs(spec.series) do
    if type(s.x) ~= 'table' or type(s.y) ~= 'table' then U.raise(('plot.lines: series %d needs x and y arrays'):format(i)) end
    local rows = {}
    local has_err = s.err or (s.lo and s.hi)
    for j = 1, #s.x do
      local x, y = s.x[j], s.y[j]
      if type(x) == 'number' and type(y) == 'number' and x == x and y == y and (not spec.logx or x > 0) then
        local lo = s.err and y - s.err[j] or s.lo and s.lo[j] or y
        local hi = s.err and y + s.err[j] or s.hi and s.hi[j] or y
        rows[#rows + 1] = has_err and (num(x) .. ' ' .. num(y) .. ' ' .. num(lo) .. ' ' .. num(hi)) or (num(x) .. ' ' .. num(y))
        xs[#xs + 1] = x
      end
    end
    if #rows > 0 then
      if index > 0 then dat[#dat + 1] = '\n' end
      dat[#dat + 1] = ('# series %d: %s'):format(index, s.name or ('series ' .. i))
      for _, r in ipairs(rows) do dat[#dat + 1] = r end
      local style = has_err and 'yerrorlines' or s.style or 'linespoints'
      plots[#plots + 1] = ("data index %d using 1:2%s with %s lt %d title '%s'"):format(index,
        has_err and ':3:4' or '', style, i, gpq(s.name or ('series ' .. i)))
      index = index + 1
    end
  end
  if #plots == 0 then return nil, 'plot.lines: nothing to plot (every series is empty)' end
  if spec.hline and type(spec.hline.y) == 'number' then
    dat[#dat + 1] = ('\n# hline: %s %s'):format(num(spec.hline.y), spec.hline.name or '')
    plots[#plots + 1] = ("%s with lines lc rgb '#444444' lw 1.5 dt 2 title '%s'"):format(num(spec.hline.y),
      gpq(spec.hline.name or ''))
  end
  local wok, werr = write_file(base .. '.dat', table.concat(dat, '\n') .. '\n')
  if not wok then return nil, werr end
  return render(base, format, 'lines', {
    TITLE = gpq(spec.title or ''), XLABEL = gpq(spec.xlabel or 'x'), YLABEL = gpq(spec.ylabel or 'y'),
    KEY = spec.key or 'bottom left', XAXIS = xaxis(spec, xs), YAXIS = (spec.logy and 'set logscale y 10\n' or '')
      .. (spec.yrange and ('set yrange [%s:%s]'):format(num(spec.yrange[1]), num(spec.yrange[2])) or ''),
    PLOT = 'plot ' .. table.concat(plots, ', \\\n     '),
  }, spec)
end

-- plot.heatmap{out=, format=, matrix = {{...}, ...}, title=, xlabel=, ylabel=, cblabel=,
--   labels = {...} (or xlabels/ylabels), values = true|false (print each cell)}
function P.heatmap(spec)
  if type(spec) ~= 'table' or type(spec.matrix) ~= 'table' or type(spec.matrix[1]) ~= 'table' then
    U.raise('plot.heatmap: expected {matrix = {{...}, ...}, out = ...}')
  end
  local base, format = output(spec)
  if not base then return nil, format end
  local m, rows = spec.matrix, { '# lotto heatmap: ' .. (spec.title or ''), '# one matrix row per line (gnuplot matrix)' }
  local ncols, vmin, vmax = #m[1], math.huge, -math.huge
  for i, r in ipairs(m) do
    if #r ~= ncols then U.raise(('plot.heatmap: row %d has %d values, row 1 has %d'):format(i, #r, ncols)) end
    local cells = {}
    for j, v in ipairs(r) do
      if type(v) ~= 'number' then U.raise(('plot.heatmap: matrix[%d][%d] is not a number'):format(i, j)) end
      cells[j] = num(v)
      vmin, vmax = math.min(vmin, v), math.max(vmax, v)
    end
    rows[#rows + 1] = table.concat(cells, ' ')
  end
  local wok, werr = write_file(base .. '.dat', table.concat(rows, '\n') .. '\n')
  if not wok then return nil, werr end
  local function tics(axis, labels)
    if type(labels) ~= 'table' then return ('set %stics 1'):format(axis) end -- one tic per cell
    local t = {}
    for i, l in ipairs(labels) do t[i] = ("'%s' %d"):format(gpq(l):gsub('%%', '%%%%'), i - 1) end -- labels are formats
    return ('set %stics (%s)%s'):format(axis, table.concat(t, ', '), axis == 'x' and ' rotate by -30' or '')
  end
  local plot = 'plot data matrix with image notitle'
  if format == 'dumb' then -- no colours in text: print the values
    plot = "unset colorbox\nplot data matrix using 1:2:(sprintf('%.2g', $3)) with labels notitle"
  elseif spec.values ~= false and #m * ncols <= 144 then
    plot = plot .. ", \\\n     data matrix using 1:2:(sprintf('%.2g', $3)):(labelcolor($3)) with labels tc rgb variable notitle"
  end
  return render(base, format, 'heatmap', {
    TITLE = gpq(spec.title or ''), XLABEL = gpq(spec.xlabel or ''), YLABEL = gpq(spec.ylabel or ''),
    CBLABEL = gpq(spec.cblabel or ''), NCOLS = ncols, NROWS = #m, VMIN = num(vmin), VMAX = num(vmax),
    CBRANGE = spec.cbrange and ('set cbrange [%s:%s]'):format(num(spec.cbrange[1]), num(spec.cbrange[2])) or '',
    TICS = tics('x', spec.xlabels or spec.labels) .. '\n' .. tics('y', spec.ylabels or spec.labels),
    PLOT = plot,
  }, spec)
end

-- ---- plots of a run ------------------------------------------------------------------

-- Accepts a run directory, a run (lotto.experiment), or a results table.
local function load(src)
  if type(src) == 'string' then
    local run, err = E.load(src)
    if not run then return nil, nil, err end
    return run.results, run
  elseif type(src) == 'table' and type(src.aggregate) == 'function' and src.dir then -- a run
    if src.results then return src.results, src end
    local res, err = src:aggregate()
    if not res then return nil, nil, err end
    return res, src
  elseif type(src) == 'table' and type(src.aggregate) == 'table' then
    return src, nil
  end
  U.raise('plot: expected a run directory, a run or a results table')
end

local function method_order(agg)
  local seen, out = {}, {}
  for _, a in ipairs(agg) do
    for m in pairs(a.methods or {}) do seen[m] = true end
  end
  local known = { 'ticket' }
  for _, c in ipairs(controls.names()) do known[#known + 1] = c end
  for _, m in ipairs(known) do
    if seen[m] then out[#out + 1], seen[m] = m, nil end
  end
  local rest = {}
  for m in pairs(seen) do rest[#rest + 1] = m end
  table.sort(rest)
  for _, m in ipairs(rest) do out[#out + 1] = m end
  return out
end

local function is_fraction(agg, metric)
  for _, a in ipairs(agg) do
    for _, st in pairs(a.methods or {}) do
      if st[metric] and st[metric].max > 1 then return false end
    end
  end
  return true
end

-- One line per method of `metric` (mean over replicates, min/max bars) vs % remaining.
function P.metric_vs_sparsity(src, metric, opts)
  opts = opts or {}
  local res, run, err = load(src)
  if not res then return nil, err end
  local agg = res.aggregate or {}
  local scale = (opts.percent ~= false and metric:find('acc') and is_fraction(agg, metric)) and 100 or 1
  local series, xtics = {}, {}
  for _, a in ipairs(agg) do
    if type(a.remaining_pct) == 'number' then xtics[#xtics + 1] = a.remaining_pct end
  end
  for _, m in ipairs(method_order(agg)) do
    local s = { name = label(m), x = {}, y = {}, lo = {}, hi = {} }
    for _, a in ipairs(agg) do
      local st = a.methods and a.methods[m] and a.methods[m][metric]
      if st and type(a.remaining_pct) == 'number' then
        local n = #s.x + 1
        s.x[n], s.y[n] = a.remaining_pct, st.mean * scale
        if opts.err == 'std' then
          s.lo[n], s.hi[n] = (st.mean - st.std) * scale, (st.mean + st.std) * scale
        else
          s.lo[n], s.hi[n] = st.min * scale, st.max * scale
        end
      end
    end
    if opts.err == 'none' then s.lo, s.hi = nil, nil end
    series[#series + 1] = s
  end
  local hline
  local dense = res.dense and res.dense[metric]
  if dense and opts.hline ~= false then hline = { y = dense.mean * scale, name = 'dense network (100% weights)' } end
  local default_out = run and (run.dir .. '/plots/' .. (opts.name or metric)) or (opts.name or metric)
  return P.lines {
    out = opts.out or default_out, format = opts.format, print = opts.print, key = opts.key,
    title = opts.title or ('%s: %s'):format(res.name or 'run', opts.what or metric_label(metric)),
    xlabel = 'weights remaining (%)', ylabel = opts.ylabel or (metric_label(metric) .. (scale == 100 and ' (%)' or '')),
    logx = true, reverse_x = true, xtics = xtics, series = series, hline = hline,
  }
end

-- Test accuracy at early stopping vs % of weights remaining (Frankle & Carbin, Fig. 3).
function P.accuracy_vs_sparsity(src, opts)
  opts = opts or {}
  local o = setmetatable({ name = 'accuracy_vs_sparsity', what = 'test accuracy at early stopping',
    ylabel = 'test accuracy at early stop (%)' }, { __index = opts })
  return P.metric_vs_sparsity(src, opts.metric or 'early_stop_test_acc', o)
end

-- Early-stopping iteration (minimum validation loss) vs % of weights remaining.
function P.early_stop(src, opts)
  opts = opts or {}
  local o = setmetatable({ name = 'early_stop', what = 'iteration of early stopping (min. validation loss)',
    ylabel = 'early-stop iteration', key = opts.key or 'outside right top', hline = false }, { __index = opts })
  return P.metric_vs_sparsity(src, 'early_stop_iter', o)
end

-- Test accuracy vs training iteration for chosen rounds of one replicate (metrics.jsonl).
function P.curves(src, opts)
  opts = opts or {}
  local res, run, err = load(src)
  if not run then return nil, err or 'plot.curves: needs a run directory (metrics.jsonl)' end
  local seed = opts.seed or run:replicates()[1]
  if not seed then return nil, 'plot.curves: run has no replicates' end
  local done = run:completed_rounds(seed)
  local rounds = opts.rounds
  if not rounds then
    rounds = {}
    for _, i in ipairs { 1, math.ceil((#done + 1) / 2), #done } do
      if done[i] and done[i] ~= rounds[#rounds] then rounds[#rounds + 1] = done[i] end
    end
  end
  local method, metric = opts.method or 'ticket', opts.metric or 'test_acc'
  local series, percent = {}, metric:find('acc') and opts.percent ~= false
  for _, k in ipairs(rounds) do
    local recs = run:load_metrics(seed, k, method) or {}
    local s = { x = {}, y = {}, style = 'lines' }
    for _, r in ipairs(recs) do
      if type(r.iter) == 'number' and type(r[metric]) == 'number' then
        s.x[#s.x + 1], s.y[#s.y + 1] = r.iter, r[metric] * (percent and r[metric] <= 1 and 100 or 1)
      end
    end
    local sum = run:load_summary(seed, k)
    s.name = sum and type(sum.remaining_pct) == 'number' and ('%s%% remaining (round %d)'):format(tick(sum.remaining_pct), k)
      or ('round %d'):format(k)
    series[#series + 1] = s
  end
  return P.lines {
    out = opts.out or (run.dir .. '/plots/curves_' .. method), format = opts.format, print = opts.print,
    title = opts.title or ('%s: %s of the %s, replicate %s'):format(res.name or run.name, metric_label(metric), label(method), seed),
    xlabel = 'training iteration', ylabel = metric_label(metric) .. (percent and ' (%)' or ''), yrange = opts.yrange,
    key = opts.key or 'bottom right', series = series,
  }
end

-- Extra plots for plot.run: fn(run, outdir, opts) -> path | nil, message.
function P.register(name, fn) P.extra[name] = fn end

-- Regenerates every plot of a run into <dir>/plots/ and prints what it wrote (unless
-- opts.quiet; format 'dumb' prints the plots). Returns the list of images, or nil,
-- message (data and scripts are still written when gnuplot is missing). Called by
-- `lotto plot <dir> [png|svg|dumb]` with the extra words as strings.
function P.run(dir, ...)
  local opts = {}
  for i = 1, select('#', ...) do
    local a = select(i, ...)
    if type(a) == 'table' then opts = a
    elseif type(a) == 'string' then
      local f = a:match('^%-%-format=(%a+)$') or a:match('^format=(%a+)$') or (EXT[a] and a)
      if not f then return nil, ("plot: unknown argument '%s' (png, svg or dumb)"):format(a) end
      opts.format = f
    end
  end
  local run, err = E.load(dir)
  if not run then return nil, err end
  local outdir = run.dir .. '/plots'
  local mok, merr = fs.mkdir_p(outdir)
  if not mok then return nil, merr end
  local files, errors = {}, {}
  local function add(path, msg)
    if path then files[#files + 1] = path
    elseif msg and not msg:find('nothing to plot', 1, true) then errors[#errors + 1] = msg end -- e.g. no final_test_acc
  end
  local verbose = not opts.quiet
  local o = { format = opts.format, print = verbose and opts.format == 'dumb' }
  add(P.accuracy_vs_sparsity(run, setmetatable({ out = outdir .. '/accuracy_vs_sparsity' }, { __index = o })))
  add(P.metric_vs_sparsity(run, 'final_test_acc', setmetatable({ out = outdir .. '/final_accuracy',
    what = 'test accuracy at the end of training' }, { __index = o })))
  add(P.early_stop(run, setmetatable({ out = outdir .. '/early_stop' }, { __index = o })))
  local seed = run:replicates()[1]
  if seed and fs.exists(run:round_path(seed, 0) .. '/metrics.jsonl') then
    add(P.curves(run, setmetatable({ out = outdir .. '/curves_ticket' }, { __index = o })))
  end
  local names = {}
  for name in pairs(P.extra) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do add(P.extra[name](run, outdir, o)) end
  if #errors > 0 and errors[1]:find('gnuplot not found', 1, true) then
    return nil, ('gnuplot not found: install gnuplot-nox (Debian) or gnuplot; data and scripts written to %s'):format(outdir)
  elseif #files == 0 then
    return nil, errors[1] or ('nothing to plot in ' .. run.dir)
  end
  if verbose then
    for _, f in ipairs(files) do print('wrote ' .. f) end
    for _, e in ipairs(errors) do print('skipped: ' .. e) end
  end
  return files, errors[1] and errors or nil
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(P, {
    accuracy_vs_sparsity = 'accuracy_vs_sparsity(rundir | run | results, {out =, format = png|svg|dumb}) -> image | nil, msg',
    early_stop = 'early_stop(rundir | run | results, opts) -> image: early-stop iteration vs % weights remaining',
    metric_vs_sparsity = 'metric_vs_sparsity(src, metric, opts) -> image: any summary metric vs % weights remaining',
    curves = "curves(rundir, {rounds = {0, 3, 7}, method = 'ticket', metric = 'test_acc', seed =, out =}) -> image",
    lines = 'lines{out =, title =, xlabel =, ylabel =, logx =, reverse_x =, series = {{name =, x =, y =, err =}}, hline = {y =, name =}}',
    heatmap = 'heatmap{out =, matrix =, labels =, title =, xlabel =, ylabel =, cblabel =} -> image',
    run = 'run(dir[, {format =, quiet =}]) -> images | nil, msg: every plot of a run into <dir>/plots',
    register = 'register(name, fn): fn(run, outdir, opts) -> image, an extra plot for plot.run',
    have_gnuplot = 'have_gnuplot() -> true when gnuplot is on the PATH',
  })
end

return P
