-- lotto.lmc.analyze: the instability analysis of Frankle et al. (ICML 2020) as one
-- resumable run: rewind points k x subnetworks (the dense net, IMP masks), each cell the
-- instability of two copies trained from θk, stored as it completes, then plotted.
local data_ = require 'lotto.data'
local E = require 'lotto.experiment'
local fs = require 'lotto.fs'
local io_ = require 'lotto.io'
local json = require 'lotto.json'
local models = require 'lotto.models'
local plot = require 'lotto.plot'
local train = require 'lotto.train'
local ticket = require 'lotto.ticket'
local inst = require 'lotto.lmc.instability'
local U = require 'lotto.util'

local M = {}

local function fail(msg) U.fail('lotto.lmc.analyze', msg) end

M.defaults = {
  name = 'instability',      -- results go to <root>/<name>/instability, plots to <root>/<name>/plots
  root = 'runs',
  model = 'lenet300',        -- a lotto.models name or function(cfg) -> model
  model_opts = {},
  data = 'mnist',            -- a lotto.data loader name, a {train, val, test} table, or function(cfg)
  data_opts = { val = 5000 },
  init = 'glorot_normal',
  seed = 1,                  -- init seed and data order of the trajectory θ0 -> θk
  train = { optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60, iterations = 1000 },
  rewind = { 0, 100, 500 },  -- the rewind points k
  dense = true,              -- analyse the dense network
  imp = false,               -- IMP subnetworks: {run = dir, seed = 1, rounds = {3, 7}} (stored run) or
                             -- {rounds = {3, 7}, prune =, rewind = 0, per_rewind = false, ...} (lotto.ticket.imp)
  seeds = { 1, 2 },          -- data-order seeds of the two copies
  points = 30,
  split = 'test',
  bn_reset = true,
  restart = false,
  plots = true,
  progress = false,
  verbose = true,
  _volatile = { 'restart', 'plots', 'progress', 'verbose' },
}


-- What each option of analyze{...} means, in the order help and docs/reference.md list them.
M.docs = {
  { 'name', 'results go to <root>/<name>/instability, plots to <root>/<name>/plots' },
  { 'root', 'directory of the run store' },
  { 'model', 'a lotto.models name or function(cfg) -> model' },
  { 'model_opts', 'options of the zoo constructor' },
  { 'data', 'a data set name, a {train =, val =, test =} table, or function(cfg)' },
  { 'data_opts', 'options of the data set loader' },
  { 'init', 'initialiser of θ0' },
  { 'seed', 'init seed and data order of the trajectory θ0 -> θk' },
  { 'train', 'the training of each copy: {optimizer =, batch =, iterations =, schedule = ...}' },
  { 'rewind', 'the rewind points k (iterations) where the two copies start' },
  { 'dense', 'analyse the dense network' },
  { 'imp', 'IMP subnetworks: false, {run = dir, seed =, rounds = {3, 7}} (a stored run), or {rounds =, prune =, rewind =, per_rewind = false} (run here)' },
  { 'seeds', 'data-order seeds of the two copies' },
  { 'points', 'points on the line between the two trained copies' },
  { 'split', "the split the error is measured on ('test' or 'val')" },
  { 'bn_reset', 'recompute batchnorm statistics at each interpolated point' },
  { 'restart', 'true: delete an existing analysis of this name first' },
  { 'plots', 'draw the plots at the end' },
  { 'progress', 'progress bars' },
  { 'verbose', 'one line per cell' },
}

--- describe() -> the options of analyze{...} with defaults and meanings.
function M.describe()
  return U.options_text(M.defaults, M.docs) .. '\nKeys that may change when an analysis resumes: '
    .. table.concat(M.defaults._volatile, ', ') .. '.'
end

local function say(cfg, fmt, ...)
  if cfg.verbose then io.stdout:write(fmt:format(...), '\n'); io.stdout:flush() end
end

local function slug(s) return (s:gsub('%%', 'pct'):gsub('[^%w%.]+', '_'):gsub('^_+', ''):gsub('_+$', '')) end

local function build(cfg)
  local model
  if type(cfg.model) == 'function' then model = cfg.model(cfg)
  else
    local ctor = models[cfg.model]
    if not ctor then fail(("unknown model '%s'%s"):format(tostring(cfg.model), U.did_you_mean(cfg.model, models.names()))) end
    model = ctor(cfg.model_opts)
  end
  local data = cfg.data
  if type(data) == 'function' then data = data(cfg)
  elseif type(data) == 'string' then
    local loader = data_[data]
    if type(loader) ~= 'function' then fail(("unknown data set '%s'"):format(data)) end
    data = loader(cfg.data_opts)
  end
  if type(data) ~= 'table' or not U.is_dataset(data.train) then fail('data must give {train =, val =, test =}') end
  return model, data
end

-- θk for every rewind point: one run of the dense network from θ0 (init seed cfg.seed,
-- data order cfg.seed), snapshotted at each k; stored so a resumed analysis reuses it.
local function trajectory(cfg, model, data, dir)
  local path = dir .. '/trajectory.safetensors'
  local t = fs.exists(path) and io_.load(path)
  local out = {}
  local kmax = 0
  for _, k in ipairs(cfg.rewind) do kmax = math.max(kmax, k) end
  if t then
    local all = true
    for _, k in ipairs(cfg.rewind) do out[k] = t['theta_' .. k]; all = all and out[k] ~= nil end
    if all then return out end
  end
  model:init { seed = cfg.seed, weight = cfg.init }
  out[0] = model:state()
  if kmax > 0 then
    local o = inst.fit_options('analyze', model, cfg.train, cfg.seed, 0, data.train)
    o.iterations, o.snapshots, o.eval_every, o.on_eval = kmax, cfg.rewind, kmax, nil
    o.progress = cfg.progress or false
    local h = train.fit(model, data, o)
    for _, k in ipairs(cfg.rewind) do if k > 0 then out[k] = h.snapshots[k] end end
  end
  local tensors = {}
  for _, k in ipairs(cfg.rewind) do tensors['theta_' .. k] = out[k] end
  assert(io_.save(path, tensors))
  return out
end

-- The subnetworks: {name, density, mask = nil | flat mask | {[k] = mask}}.
local function subnetworks(cfg, model, data)
  local list = {}
  if cfg.dense then list[#list + 1] = { name = 'dense', density = 1.0 } end
  local imp = cfg.imp
  if not imp then return list end
  if type(imp) ~= 'table' or type(imp.rounds) ~= 'table' or #imp.rounds == 0 then
    fail('imp must be {rounds = {...}, run = dir (stored) | ticket options (on the fly)}')
  end
  -- The flat mask of a stored ticket: tk.mask, or rebuilt from its named masks by the
  -- model's parameter names (parameters without a stored mask are kept).
  local function flat_mask(tk, where)
    if tk.mask then return tk.mask end
    local named = tk.named and tk.named.mask
    if type(named) ~= 'table' then fail(where .. ': the ticket has no mask') end
    local flat = model:masks():clone():fill(1)
    for _, p in ipairs(model:parameters()) do
      local t = named[p.name]
      if t then
        if t:numel() ~= p.numel then
          fail(("%s: mask '%s' has %d values, the model %d"):format(where, p.name, t:numel(), p.numel))
        end
        flat:narrow(1, p.offset + 1, p.numel):copy(t:contiguous():reshape { p.numel })
      end
    end
    return flat
  end
  local function rounds_of(dir, seed, per)
    for _, r in ipairs(imp.rounds) do
      local tk, err = ticket.load(dir, seed, r)
      if not tk then fail(('IMP round %s of %s: %s'):format(tostring(r), dir, tostring(err))) end
      local name = ('IMP round %d'):format(r)
      local e = list[name] or { name = name, round = r, density = tk.summary and tk.summary.density }
      if not list[name] then list[name] = e; list[#list + 1] = e end
      local mask = flat_mask(tk, ('IMP round %d of %s'):format(r, dir))
      if per then e.masks = e.masks or {}; e.masks[per] = mask else e.mask = mask end
      if not e.density then
        model:masks():copy(mask)
        e.density = model:density()
      end
    end
  end
  if imp.run then
    rounds_of(imp.run, imp.seed or cfg.seed)
  else
    local o = { model = cfg.model, model_opts = cfg.model_opts, data = data, data_opts = cfg.data_opts,
                init = cfg.init, optimizer = cfg.train.optimizer, batch = cfg.train.batch,
                iterations = cfg.train.iterations, epochs = cfg.train.epochs, seeds = { cfg.seed },
                controls = {}, plots = false, progress = cfg.progress, verbose = cfg.verbose, root = cfg.root,
                restart = cfg.restart }
    if cfg.train.schedule ~= nil then o.schedule = cfg.train.schedule end
    local rmax = 0
    for _, r in ipairs(imp.rounds) do rmax = math.max(rmax, r) end
    o.rounds = rmax
    for k, v in pairs(imp) do
      if k ~= 'rounds' and k ~= 'per_rewind' and k ~= 'run' and k ~= 'seed' then o[k] = v end
    end
    local per = imp.per_rewind and cfg.rewind or { imp.rewind or 0 }
    for _, k in ipairs(per) do
      o.rewind = k
      o.name = cfg.name .. '/imp_rewind' .. k
      local _, run = ticket.imp(o)
      rounds_of(run.dir, cfg.seed, imp.per_rewind and k or nil)
    end
  end
  for _, e in ipairs(list) do
    if e.round then e.name = ('IMP %.1f%%'):format(100 * e.density) end
  end
  return list
end

local function plot_all(cfg, dir, pdir, cells, subs)
  local files, errs = {}, {}
  local function add(p, e) if p then files[#files + 1] = p elseif e then errs[#errs + 1] = e end end
  for _, s in ipairs(subs) do
    local series = {}
    for _, k in ipairs(cfg.rewind) do
      local c = cells[s.name .. '@' .. k]
      if c then
        local y = {}
        for i, e in ipairs(c.curve[c.metric]) do y[i] = c.metric == 'error' and 100 * e or e end
        series[#series + 1] = { name = ('k = %d (instability %.2f%%)'):format(k, 100 * c.instability), x = c.curve.alpha, y = y }
      end
    end
    add(plot.lines { out = pdir .. '/interpolation_' .. slug(s.name), series = series, key = 'top right',
      title = ('%s: %s along the path between two copies trained from θk'):format(cfg.name, s.name),
      xlabel = 'interpolation α  (0 = copy A, 1 = copy B)', ylabel = 'test error (%)' })
  end
  local series = {}
  for _, s in ipairs(subs) do
    local x, y = {}, {}
    for _, k in ipairs(cfg.rewind) do
      local c = cells[s.name .. '@' .. k]
      if c then x[#x + 1], y[#y + 1] = k, 100 * c.instability end
    end
    series[#series + 1] = { name = s.name, x = x, y = y }
  end
  add(plot.lines { out = pdir .. '/instability', series = series, key = 'center right',
    title = cfg.name .. ': instability (max error on the path - mean of the endpoints)', xlabel = 'rewind iteration k',
    ylabel = 'instability (%)',
    hline = { y = 2, name = 'stable below 2%' } })
  return files, errs
end

local analyze_run -- below: the work under the run lock

--- lmc.analyze{...} (options and defaults: lotto.lmc.defaults) -> results, dir.
-- For each subnetwork (the dense net and the IMP masks of imp.rounds) and each rewind
-- point k: the instability of two copies trained from θk ⊙ mask. θk comes from one
-- dense run (init and data order cfg.seed). IMP masks come from a stored run
-- (imp.run) or from lotto.ticket.imp run on the fly into <name>/imp_rewind<r>, one IMP
-- run rewound to imp.rewind (default 0) whose masks serve every k, or, with
-- per_rewind = true, one IMP run per k, as in the paper. Every cell is written to
-- <root>/<name>/instability/<subnetwork>_k<k>.json as it completes (a killed analysis
-- resumes), then results.json, and the plots interpolation_<subnetwork>.png and
-- instability.png go to <root>/<name>/plots/.
function M.analyze(opts)
  if type(opts) ~= 'table' then fail('expected an options table (see lotto.lmc.defaults)') end
  local cfg = U.merge(M.defaults, opts, 'lotto.lmc.analyze', 'see lotto.lmc.defaults')
  if type(cfg.rewind) == 'number' then cfg.rewind = { cfg.rewind } end
  for _, k in ipairs(cfg.rewind) do
    if math.type(k) ~= 'integer' or k < 0 then fail('rewind must be a list of iterations >= 0') end
  end
  table.sort(cfg.rewind)
  if type(cfg.train) ~= 'table' then fail('train must be a table of fit options') end
  local run = assert(E.open { root = cfg.root, name = cfg.name .. '/instability', config = cfg, restart = cfg.restart,
                              defaults = M.defaults })
  local ok, results, dir = pcall(analyze_run, cfg, run)
  run:close() -- also on error: the process may open the run again
  if not ok then error(results, 0) end
  return results, dir
end

-- The analysis once its run is open (and locked): returns results, the run's directory.
function analyze_run(cfg, run)
  local dir = run.dir
  local pdir = cfg.root .. '/' .. cfg.name .. '/plots'
  local model, data = build(cfg)
  local theta = trajectory(cfg, model, data, dir)
  local subs = subnetworks(cfg, model, data)
  local cells, rows = {}, json.array()
  local ones = model:masks():clone():fill(1)
  for _, s in ipairs(subs) do
    for _, k in ipairs(cfg.rewind) do
      local path = ('%s/%s_k%d.json'):format(dir, slug(s.name), k)
      local c = fs.exists(path) and json.read(path)
      if not c then
        local r = inst.instability { model = model, state = theta[k], mask = (s.masks and s.masks[k]) or s.mask or ones,
          data = data, train = cfg.train, seeds = cfg.seeds, start = k, points = cfg.points, split = cfg.split,
          bn_reset = cfg.bn_reset }
        c = { subnetwork = s.name, density = s.density, k = k, instability = r.instability, errors = r.errors,
              loss_barrier = r.loss_barrier, metric = r.metric, curve = r.curve, seeds = r.seeds,
              iterations = r.iterations }
        assert(json.write(path, c, { indent = true }))
      end
      cells[s.name .. '@' .. k] = c
      rows[#rows + 1] = { subnetwork = s.name, density = s.density, k = k, instability = c.instability,
                          errors = c.errors, loss_barrier = c.loss_barrier }
      say(cfg, '%-12s %6.1f%% weights  k = %-6d instability %6.2f%%  (errors %.2f%%, %.2f%%)%s', s.name,
        100 * s.density, k, 100 * c.instability, 100 * c.errors[1], 100 * c.errors[2],
        c.instability < 0.02 and '  stable' or '')
    end
  end
  local results = { name = cfg.name, cells = rows }
  assert(json.write(dir .. '/results.json', results, { indent = true }))
  if cfg.plots then
    local files, errs = plot_all(cfg, dir, pdir, cells, subs)
    results.plots = files
    if #errs > 0 then say(cfg, 'plots: %s', errs[1]) end
  end
  return results, dir
end

return M
