-- sweep/collect.lua: every finished unit of a sweep into one results.json (per cell and
-- round: mean, std, min, max over seeds of each method's metrics), each cell's own
-- <cell>/results.json (the shape of a run's, so lotto.plot draws it), timing.json (unit
-- times, kept out of results.json so that reruns are byte-identical) and the plots:
-- accuracy vs density with one line per cell, and one plot per swept parameter.
-- Only units whose state file says done are read; what is missing is listed.
local json = require 'lotto.json'
local E = require 'lotto.experiment'
local S = require 'lotto.sweep'
local U = require 'lotto.sweep.state'
local fs = require 'lotto.fs'

local C = {}

local function sorted(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out, function(a, b)
    if type(a) == 'number' and type(b) == 'number' then return a < b end
    return tostring(a) < tostring(b)
  end)
  return out
end

-- {metric = stats} of one method over the summaries of one round (one per seed).
local function method_stats(list, method)
  local metrics = {}
  for _, s in ipairs(list) do
    for m, v in pairs(type(s.runs) == 'table' and type(s.runs[method]) == 'table' and s.runs[method] or {}) do
      if type(v) == 'number' and v == v then
        metrics[m] = metrics[m] or {}
        table.insert(metrics[m], v)
      end
    end
  end
  local out = {}
  for m, xs in pairs(metrics) do out[m] = E.stats(xs) end
  return out
end

-- The aggregate of one cell from {seed = {summaries}}, in the shape of Run:aggregate.
local function aggregate(replicates)
  local by_round = {}
  for _, seed in ipairs(sorted(replicates)) do
    for _, s in ipairs(replicates[seed]) do
      by_round[s.round] = by_round[s.round] or {}
      table.insert(by_round[s.round], s)
    end
  end
  local agg = json.array()
  local rounds = sorted(by_round)
  for _, k in ipairs(rounds) do
    local list, methods, names = by_round[k], {}, {}
    local dens, rem = {}, {}
    for _, s in ipairs(list) do
      for m in pairs(type(s.runs) == 'table' and s.runs or {}) do names[m] = true end
      if type(s.density) == 'number' then dens[#dens + 1] = s.density end
      if type(s.remaining_pct) == 'number' then rem[#rem + 1] = s.remaining_pct end
    end
    for _, m in ipairs(sorted(names)) do methods[m] = method_stats(list, m) end
    agg[#agg + 1] = { round = k, replicates = #list, methods = methods,
      density = #dens > 0 and E.stats(dens).mean or nil, remaining_pct = #rem > 0 and E.stats(rem).mean or nil }
  end
  return agg, by_round[0] and method_stats(by_round[0], 'ticket') or nil
end

-- The metric the plots show: accuracy when the runs have one, else the test loss.
local function pick_metric(cells)
  for _, m in ipairs { 'early_stop_test_acc', 'final_test_acc', 'early_stop_test_loss', 'final_test_loss' } do
    for _, c in ipairs(cells) do
      for _, a in ipairs(c.aggregate) do
        if a.methods.ticket and a.methods.ticket[m] then return m end
      end
    end
  end
end

local function draw(dir, s, cells, metric, fmt)
  local P = require 'lotto.plot'
  local outdir = dir .. '/plots'
  assert(fs.mkdir_p(outdir))
  local files, errors = {}, {}
  local function add(path, err) if path then files[#files + 1] = path elseif err then errors[#errors + 1] = err end end
  local acc = metric:find('acc') ~= nil
  local scale = acc and 100 or 1
  local ylabel = metric:gsub('_', ' ') .. (acc and ' (%)' or '')
  -- one line per cell: the ticket's metric vs weights remaining
  local series, xs = {}, {}
  for _, c in ipairs(cells) do
    local sr = { name = c.key, x = {}, y = {}, lo = {}, hi = {} }
    for _, a in ipairs(c.aggregate) do
      local st = a.methods.ticket and a.methods.ticket[metric]
      if st and a.remaining_pct then
        local n = #sr.x + 1
        sr.x[n], sr.y[n], sr.lo[n], sr.hi[n] = a.remaining_pct, st.mean * scale, st.min * scale, st.max * scale
        xs[a.remaining_pct] = true
      end
    end
    if #sr.x > 0 then series[#series + 1] = sr end
  end
  if #series > 0 then
    local tics = sorted(xs)
    add(P.lines { out = outdir .. '/accuracy_vs_density', format = fmt, print = false,
      title = ('%s: ticket %s per cell (mean, min/max over seeds)'):format(s.name, metric:gsub('_', ' ')),
      xlabel = 'weights remaining (%)', ylabel = ylabel, logx = true, reverse_x = true, xtics = tics,
      key = 'outside right top', series = series })
  end
  -- one plot per swept parameter: metric vs the parameter's value, one line per round
  -- (mean over seeds and over the cells that share the value)
  for _, param in ipairs(sorted(s.grid)) do
    local numeric, rounds = true, {}
    for _, v in ipairs(s.grid[param]) do if type(v) ~= 'number' then numeric = false end end
    if not numeric then
      errors[#errors + 1] = ('%s: not plotted (values are not numbers)'):format(param)
    else
      for _, c in ipairs(cells) do
        local v = c.overrides[param]
        for _, a in ipairs(c.aggregate) do
          local st = a.methods.ticket and a.methods.ticket[metric]
          if st and v ~= nil then
            rounds[a.round] = rounds[a.round] or { at = {}, pct = a.remaining_pct }
            if rounds[a.round].pct ~= a.remaining_pct then rounds[a.round].pct = false end -- differs by cell
            local r = rounds[a.round].at
            r[v] = r[v] or { sum = 0, n = 0, lo = math.huge, hi = -math.huge }
            local e = r[v]
            e.sum, e.n, e.lo, e.hi = e.sum + st.mean, e.n + 1, math.min(e.lo, st.min), math.max(e.hi, st.max)
          end
        end
      end
      local ser = {}
      for _, k in ipairs(sorted(rounds)) do
        local r = rounds[k]
        local name = r.pct and ('round %d (%.3g%% weights)'):format(k, r.pct) or ('round %d'):format(k)
        local sr = { name = name, x = {}, y = {}, lo = {}, hi = {} }
        for _, v in ipairs(sorted(r.at)) do
          local e = r.at[v]
          local n = #sr.x + 1
          sr.x[n], sr.y[n], sr.lo[n], sr.hi[n] = v, e.sum / e.n * scale, e.lo * scale, e.hi * scale
        end
        ser[#ser + 1] = sr
      end
      table.sort(ser, function(a, b) return a.name < b.name end)
      if #ser > 0 then
        local others = #sorted(s.grid) > 1 and ' and the other swept values' or ''
        add(P.lines { out = outdir .. '/by_' .. param:gsub('[^%w_%-]', '_'), format = fmt, print = false,
          title = ('%s: %s vs %s (mean over seeds%s)'):format(s.name, metric:gsub('_', ' '), param, others),
          xlabel = param, ylabel = ylabel, key = 'outside right top', series = ser })
      end
    end
  end
  -- each cell's own accuracy-vs-sparsity plot, as lotto plot draws for a run
  for _, c in ipairs(cells) do
    if metric:find('acc') then
      add(P.accuracy_vs_sparsity(c.results, { out = dir .. '/' .. c.key .. '/plots/accuracy_vs_sparsity', format = fmt, print = false }))
    end
  end
  return files, errors
end

-- Collects the sweep in dir. opts: format (png|svg|dumb), plots (default true), quiet.
-- Returns results, missing (list of unit ids) | nil, message.
function C.collect(dir, opts)
  opts = opts or {}
  local s, err = S.load(dir)
  if not s then return nil, err end
  local say = opts.quiet and function() end or function(fmt, ...) print(fmt:format(...)) end
  local cells, missing, timing = json.array(), json.array(), { units = {} }
  local by_cell = {}
  for _, u in ipairs(S.units(s, dir)) do
    local c = by_cell[u.cell]
    if not c then
      c = { key = u.cell, overrides = u.overrides, replicates = {}, seeds = json.array() }
      by_cell[u.cell] = c
      cells[#cells + 1] = c
    end
    local st = U.read(u)
    local run = st and st.state == 'done' and E.load(u.dir)
    local list = run and run.results and run.results.replicates and run.results.replicates[tostring(u.seed)]
    if list then
      c.replicates[tostring(u.seed)] = list
      c.seeds[#c.seeds + 1] = u.seed
      timing.units[u.id] = { seconds = st.seconds, rounds_seconds = st.rounds_seconds, overhead_seconds = st.overhead_seconds,
        host = st.host, job = st.job, threads = st.threads, attempt = st.attempt }
    else
      local state, note = U.classify(u, st or false)
      missing[#missing + 1] = u.id
      if not opts.quiet then say('missing %s: %s%s', u.id, state, note ~= '' and (' (' .. note .. ')') or '') end
    end
  end
  local out_cells = json.array()
  for _, c in ipairs(cells) do
    c.aggregate, c.dense = aggregate(c.replicates)
    c.results = { name = s.name .. '/' .. c.key, cell = c.key, overrides = c.overrides, seeds = c.seeds,
      replicates = c.replicates, aggregate = c.aggregate, dense = c.dense }
    if #c.seeds > 0 then assert(json.write(dir .. '/' .. c.key .. '/results.json', c.results, { indent = true })) end
    out_cells[#out_cells + 1] = { key = c.key, overrides = c.overrides, seeds = c.seeds, aggregate = c.aggregate, dense = c.dense }
  end
  local results = { name = s.name, driver = s.driver, base = s.base, grid = s.grid, seeds = s.seeds,
    cells = out_cells, missing = missing, complete = #missing == 0 }
  assert(json.write(dir .. '/results.json', results, { indent = true }))
  assert(json.write(dir .. '/timing.json', timing, { indent = true }))
  local n = #S.units(s, dir) - #missing
  say('collected %d of %d units (%d cells) into %s/results.json%s', n, n + #missing, #cells, dir,
    #missing > 0 and (' -- %d missing'):format(#missing) or '')
  local metric = pick_metric(cells)
  if opts.plots ~= false and metric then
    local files, errors = draw(dir, s, cells, metric, opts.format)
    for _, f in ipairs(files) do say('wrote %s', f) end
    for _, e in ipairs(errors) do say('plot skipped: %s', tostring(e):match('^[^\n]*')) end
  end
  return results, missing
end

return C
