-- lotto.plot.runs: the plots of a lottery-ticket run (a run directory, a run from
-- lotto.experiment, or a results table): a metric against the weights remaining, one
-- line per method (the ticket and the controls of lotto.ticket.controls, in their order
-- and with their labels), early-stop iterations, training curves; plot.run draws them
-- all, plus those added with plot.register. They add themselves to lotto.plot.
local args = require 'lotto.args'
local E = require 'lotto.experiment'
local fs = require 'lotto.fs'
local controls = require 'lotto.ticket.controls'
local U = require 'lotto.util'
local P = require 'lotto.plot.core'

local EXT, tick = P.formats, P.tick

-- Display names of the IMP methods: the ticket, then the controls' labels (read at
-- each plot, so a control registered in lotto.ticket.controls shows here).
local function label(m)
  if m == 'ticket' then return 'winning ticket' end
  local c = controls[m]
  return type(c) == 'table' and c.label or m
end

-- 'early_stop_test_acc' -> 'early stop test accuracy'
local function metric_label(m)
  local words = {}
  for w in m:gmatch('[^_]+') do words[#words + 1] = ({ acc = 'accuracy', val = 'validation', iter = 'iteration' })[w] or w end
  return table.concat(words, ' ')
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

-- Error bars: 'std' (mean ± sample std, the default, as the printed tables), 'ci95'
-- (mean ± 1.96 std / sqrt(n)), 'minmax' (the range over seeds) or 'none'.
local ERR_TEXT = { std = 'mean ± std', ci95 = 'mean ± 95% interval (1.96 std/sqrt n)', minmax = 'mean, bars min to max',
                   none = 'mean' }

local function bars(st, how)
  if how == 'minmax' then return st.min, st.max end
  local h = st.std or 0
  if how == 'ci95' then h = 1.96 * h / math.sqrt(math.max(st.n or 1, 1)) end
  return st.mean - h, st.mean + h
end

-- The small print under a plot: the run, what the bars are, how many seeds.
local function caption(res, run, how, agg)
  local n = 0
  for _, a in ipairs(agg or {}) do n = math.max(n, a.replicates or 0) end
  local parts = { ('run %s'):format(run and run.dir or res.name or '?') }
  if n > 0 then
    parts[#parts + 1] = n == 1 and '1 seed (no error bars)' or ('%s over %d seeds'):format(ERR_TEXT[how], n)
  end
  return table.concat(parts, ' · ')
end

-- The title: the experiment's description when it has one, else what is plotted.
local function title_of(res, what, run)
  local d = (run and run.config and run.config.description) or (res.config and res.config.description)
  return (type(d) == 'string' and d ~= '') and ('%s: %s'):format(d, what) or what
end

-- One line per method of `metric` (mean over replicates, error bars as opts.err) vs %
-- remaining; series at the same x are shifted slightly apart.
function P.metric_vs_sparsity(src, metric, opts)
  opts = opts or {}
  local res, run, err = load(src)
  if not res then return nil, err end
  local how = opts.err or 'std'
  U.one_of(how, { 'std', 'ci95', 'minmax', 'none' }, "option 'err'", 'plot')
  local agg = res.aggregate or {}
  local scale = (opts.percent ~= false and metric:find('acc') and is_fraction(agg, metric)) and 100 or 1
  local series, xtics = {}, {}
  for _, a in ipairs(agg) do
    if type(a.remaining_pct) == 'number' then xtics[#xtics + 1] = a.remaining_pct end
  end
  local methods = method_order(agg)
  for i, m in ipairs(methods) do
    local s = { name = label(m), x = {}, y = {}, lo = {}, hi = {},
                xshift = 10 ^ ((i - (#methods + 1) / 2) * 0.006) } -- about 1.4% apart on the log axis
    for _, a in ipairs(agg) do
      local st = a.methods and a.methods[m] and a.methods[m][metric]
      if st and type(a.remaining_pct) == 'number' then
        local n = #s.x + 1
        s.x[n], s.y[n] = a.remaining_pct, st.mean * scale
        local lo, hi = bars(st, how)
        s.lo[n], s.hi[n] = lo * scale, hi * scale
      end
    end
    if how == 'none' then s.lo, s.hi = nil, nil end
    series[#series + 1] = s
  end
  local hline
  local dense = res.dense and res.dense[metric]
  if dense and opts.hline ~= false then hline = { y = dense.mean * scale, name = 'dense network (100% weights)' } end
  local default_out = run and (run.dir .. '/plots/' .. (opts.name or metric)) or (opts.name or metric)
  return P.lines {
    out = opts.out or default_out, format = opts.format, print = opts.print, key = opts.key,
    title = opts.title or title_of(res, opts.what or metric_label(metric), run),
    caption = opts.caption or caption(res, run, how, agg),
    xlabel = 'weights remaining (%)', ylabel = opts.ylabel or (metric_label(metric) .. (scale == 100 and ' (%)' or '')),
    logx = true, logy = opts.logy, reverse_x = true, xtics = xtics, series = series, hline = hline,
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

-- Test accuracy vs training iteration for chosen rounds (metrics.jsonl): the mean over
-- the replicates with ± std bars (opts.seed: one replicate only).
function P.curves(src, opts)
  opts = opts or {}
  local res, run, err = load(src)
  if not run then return nil, err or 'plot.curves: needs a run directory (metrics.jsonl)' end
  local seeds = opts.seed and { opts.seed } or run:replicates()
  if not seeds[1] then return nil, 'plot.curves: run has no replicates' end
  local done = run:completed_rounds(seeds[1])
  local rounds = opts.rounds
  if not rounds then
    rounds = {}
    for _, i in ipairs { 1, math.ceil((#done + 1) / 2), #done } do
      if done[i] and done[i] ~= rounds[#rounds] then rounds[#rounds + 1] = done[i] end
    end
  end
  local method, metric = opts.method or 'ticket', opts.metric or 'test_acc'
  local series, percent = {}, metric:find('acc') and opts.percent ~= false
  local nseeds = 0
  for _, k in ipairs(rounds) do
    local by_iter, iters = {}, {}
    for _, seed in ipairs(seeds) do
      local recs = run:load_metrics(seed, k, method)
      for _, r in ipairs(recs or {}) do
        if type(r.iter) == 'number' and type(r[metric]) == 'number' then
          if not by_iter[r.iter] then by_iter[r.iter] = {}; iters[#iters + 1] = r.iter end
          table.insert(by_iter[r.iter], r[metric] * (percent and r[metric] <= 1 and 100 or 1))
        end
      end
    end
    table.sort(iters)
    local s = { x = {}, y = {}, lo = {}, hi = {}, style = 'lines' }
    local many = false
    for _, it in ipairs(iters) do
      local st = E.stats(by_iter[it])
      local n = #s.x + 1
      s.x[n], s.y[n], s.lo[n], s.hi[n] = it, st.mean, st.mean - st.std, st.mean + st.std
      if st.n > 1 then many = true end
      nseeds = math.max(nseeds, st.n)
    end
    if not many then s.lo, s.hi = nil, nil end
    local sum = run:load_summary(seeds[1], k)
    s.name = sum and type(sum.remaining_pct) == 'number' and ('%s%% remaining (round %d)'):format(tick(sum.remaining_pct), k)
      or ('round %d'):format(k)
    series[#series + 1] = s
  end
  local what = ('%s of the %s during training'):format(metric_label(metric), label(method))
  local cap = ('run %s · %s'):format(run.dir, nseeds > 1 and ('mean ± std over %d seeds'):format(nseeds)
    or ('seed %s'):format(tostring(seeds[1])))
  return P.lines {
    out = opts.out or (run.dir .. '/plots/curves_' .. method), format = opts.format, print = opts.print,
    title = opts.title or title_of(res, what, run), caption = opts.caption or cap,
    xlabel = 'training iteration', ylabel = metric_label(metric) .. (percent and ' (%)' or ''), yrange = opts.yrange,
    key = opts.key or 'bottom right', series = series,
  }
end

-- Test accuracy at early stopping vs the theoretical speed-up (dense MACs / MACs left,
-- each round's cost in summary.json), as ShrinkBench recommends: the ticket, mean over
-- replicates per round.
function P.accuracy_vs_speedup(src, opts)
  opts = opts or {}
  local res, run, err = load(src)
  if not res then return nil, err end
  local metric = opts.metric or 'early_stop_test_acc'
  local by = {}
  for _, list in pairs(res.replicates or {}) do
    for _, s in ipairs(list) do
      local acc = s.runs and s.runs.ticket and s.runs.ticket[metric]
      local sp = type(s.cost) == 'table' and s.cost.speedup
      if type(acc) == 'number' and type(sp) == 'number' and type(s.round) == 'number' then
        local b = by[s.round] or { n = 0, x = 0, y = 0 }
        b.n, b.x, b.y = b.n + 1, b.x + sp, b.y + acc
        by[s.round] = b
      end
    end
  end
  local rounds = {}
  for k in pairs(by) do rounds[#rounds + 1] = k end
  table.sort(rounds)
  if #rounds == 0 then return nil, 'nothing to plot: no round records its cost (runs before costs were recorded)' end
  local s = { name = label('ticket'), x = {}, y = {} }
  for i, k in ipairs(rounds) do s.x[i], s.y[i] = by[k].x / by[k].n, 100 * by[k].y / by[k].n end
  return P.lines {
    out = opts.out or (run and (run.dir .. '/plots/accuracy_vs_speedup') or 'accuracy_vs_speedup'), format = opts.format,
    print = opts.print, key = opts.key or 'bottom left',
    title = opts.title or ('%s: %s vs theoretical speed-up'):format(res.name or 'run', metric_label(metric)),
    xlabel = 'theoretical speed-up (dense MACs / remaining MACs)', ylabel = metric_label(metric) .. ' (%)',
    logx = true, series = { s },
  }
end

-- ---- groups of runs (late_resetting/rewind_<k>, transfer/<name>) ---------------------

-- The runs directly under dir (directories holding config.json), sorted by name with
-- numbers in numeric order (rewind_20 before rewind_100).
function P.subruns(dir)
  local out = {}
  for _, name in ipairs(fs.listdir(dir) or {}) do
    if fs.isdir(dir .. '/' .. name) and fs.exists(dir .. '/' .. name .. '/config.json') then out[#out + 1] = name end
  end
  local function key(n) return n:gsub('%d+', function(d) return ('%012d'):format(tonumber(d)) end) end
  table.sort(out, function(a, b) return key(a) < key(b) end)
  return out
end

-- One figure over the runs of a group: `metric` of every method of every run, vs %
-- remaining, labelled "<run>: <method>" (mean ± std over the seeds).
function P.compare(dir, opts)
  opts = opts or {}
  local metric = opts.metric or 'early_stop_test_acc'
  local series, xtics, seen, nseeds = {}, {}, {}, 0
  local subs = opts.runs or P.subruns(dir)
  local percent = metric:find('acc') ~= nil
  for _, name in ipairs(subs) do
    local run = E.load(dir .. '/' .. name)
    local agg = run and run.results and run.results.aggregate or {}
    for _, m in ipairs(method_order(agg)) do
      local s = { name = ('%s: %s'):format(name, label(m)), x = {}, y = {}, lo = {}, hi = {} }
      for _, a in ipairs(agg) do
        local st = a.methods[m] and a.methods[m][metric]
        if st and type(a.remaining_pct) == 'number' then
          local sc = percent and st.max <= 1 and 100 or 1
          local lo, hi = bars(st, opts.err or 'std')
          s.x[#s.x + 1], s.y[#s.y + 1], s.lo[#s.lo + 1], s.hi[#s.hi + 1] = a.remaining_pct, st.mean * sc, lo * sc, hi * sc
          if not seen[a.remaining_pct] then seen[a.remaining_pct] = true; xtics[#xtics + 1] = a.remaining_pct end
          nseeds = math.max(nseeds, st.n or 0)
        end
      end
      if #s.x > 0 then series[#series + 1] = s end
    end
  end
  if #series == 0 then return nil, 'nothing to plot in ' .. dir end
  for i, s in ipairs(series) do s.xshift = 10 ^ ((i - (#series + 1) / 2) * 0.004) end
  table.sort(xtics, function(a, b) return a > b end)
  return P.lines {
    out = opts.out or (dir .. '/plots/compare'), format = opts.format, print = opts.print,
    title = opts.title or metric_label(metric) .. ' (runs of ' .. dir:gsub('/+$', ''):match('[^/]+$') .. ')',
    caption = ('runs under %s · %s'):format(dir, nseeds > 1 and ('%s over %d seeds'):format(ERR_TEXT[opts.err or 'std'], nseeds)
      or '1 seed'),
    xlabel = 'weights remaining (%)', ylabel = metric_label(metric) .. (percent and ' (%)' or ''),
    logx = true, reverse_x = true, xtics = xtics, series = series, key = 'outside right top',
  }
end

-- plot.run on a directory of runs: every run's plots, then the comparison figure.
function P.run_group(dir, subs, opts)
  local files, errors = {}, {}
  for _, name in ipairs(subs) do
    local f, e = P.run(dir .. '/' .. name, setmetatable({ quiet = true }, { __index = opts }))
    for _, x in ipairs(f or {}) do files[#files + 1] = x end
    if not f then errors[#errors + 1] = e end
  end
  local mok, merr = fs.mkdir_p(dir .. '/plots')
  if not mok then return nil, merr end
  local img, err = P.compare(dir, { format = opts.format })
  if img then files[#files + 1] = img else errors[#errors + 1] = err end
  if #files == 0 then return nil, errors[1] or ('nothing to plot in ' .. dir) end
  if not opts.quiet then
    for _, f in ipairs(files) do print('wrote ' .. f) end
    for _, e in ipairs(errors) do print('skipped: ' .. tostring(e)) end
  end
  return files, errors[1] and errors or nil
end

-- Extra plots for plot.run: fn(run, outdir, opts) -> path | nil, message.
function P.register(name, fn) P.extra[name] = fn end

-- Regenerates every plot of a run into <dir>/plots/ and prints what it wrote (unless
-- opts.quiet; format 'dumb' prints the plots). Returns the list of images, or nil,
-- message (data and scripts are still written when gnuplot is missing). Called by
-- `lotto plot <dir> [--format png|svg|pdf|dumb]`: the command line, parsed by lotto.args.
local CLI = {
  usage = 'lotto plot <rundir> [options]',
  about = 'Draws every plot of a run (accuracy and early-stop iteration vs. weights remaining,\n'
    .. 'training curves, and the plots the run registered) into <rundir>/plots/, each with\n'
    .. 'its .dat and .gp beside the image for restyling. Takes seconds.',
  positional = { { 'rundir', 'a run directory (runs/<name>, holding config.json), or a directory of runs\n'
    .. '                        (late_resetting/, transfer/): their plots and one comparison figure' } },
  options = { { 'format', 'png', 'image format', choices = { 'png', 'svg', 'pdf', 'dumb' } } },
  more = true, -- `lotto plot runs/x svg` (the format as a bare word) still works
}
P.cli = CLI

-- plot.run(dir[, opts]) from Lua; plot.run(word, ...) with only strings is the command line.
function P.run(dir, ...)
  local opts = {}
  local n = select('#', ...)
  if type(dir) == 'string' and (dir:sub(1, 1) == '-' or (n > 0 and type((...)) == 'string')) then
    local o = args.parse({ dir, ... }, CLI)
    dir, opts.format = o.rundir, o.format
    if o[1] then
      if not EXT[o[1]] then args.fail(CLI, ("unexpected argument '%s'"):format(o[1])) end
      opts.format = o[1]
    end
  else
    for i = 1, n do
      local a = select(i, ...)
      if type(a) == 'table' then opts = a end
    end
  end
  local run, err = E.load(dir)
  if not run then
    local subs = P.subruns(dir)
    if #subs > 0 then return P.run_group(dir, subs, opts) end
    return nil, err
  end
  -- a run whose driver draws its own plots names their module in its config (lotto.ugs:
  -- lotto.ugs_plot), so plot needs no knowledge of it; only lotto.* modules are loaded
  local own = run.config and run.config._plot
  if type(own) == 'string' and own:match('^lotto%.[%w_]+$') then
    local ok, mod = pcall(require, own)
    if ok and type(mod) == 'table' and type(mod.run) == 'function' then return mod.run(run.dir, opts) end
  end
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
  add(P.accuracy_vs_speedup(run, setmetatable({ out = outdir .. '/accuracy_vs_speedup' }, { __index = o })))
  local a0 = run.results and run.results.aggregate and run.results.aggregate[1]
  local t0 = a0 and a0.methods and a0.methods.ticket
  if t0 and not t0.early_stop_test_acc and t0.final_test_loss then -- regression: losses, no accuracy
    add(P.metric_vs_sparsity(run, 'final_test_loss', setmetatable({ out = outdir .. '/loss_vs_sparsity',
      what = 'test loss (MSE) at the end of training', logy = true, key = 'outside right top' }, { __index = o })))
  end
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

return P
