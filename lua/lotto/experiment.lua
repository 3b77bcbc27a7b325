-- experiment.lua: the run store. runs/<name>/config.json (tagged as a run), lock,
-- replicate_<seed>/round_<k>/{metrics.jsonl, mask.safetensors, summary.json},
-- results.json and timing.json. A round is complete when its summary.json exists
-- (written last, atomically), so a killed run resumes at the first round without one;
-- one process holds a run at a time; results.json never holds timings.
local json = require 'lotto.json'
local tensor = require 'lotto.tensor'
local nn = require 'lotto.nn'
local fs = require 'lotto.fs'
local U = require 'lotto.util'
local G = require 'lotto.experiment.guard'

local E = {}
local Run = {}
Run.__index = Run

-- ---- helpers ---------------------------------------------------------------------

-- Keys holding wall-clock figures: kept out of results.json so reruns are byte-identical.
local function is_timing(k)
  return type(k) == 'string' and (k == 'seconds' or k == 'time' or k == 'timing' or k:match('_seconds$') ~= nil)
end

-- Returns a copy of v without timing keys, and a table of the removed values (or nil).
local function split_timing(v)
  if type(v) ~= 'table' then return v, nil end
  local clean, timing = setmetatable({}, getmetatable(v)), nil
  for k, x in pairs(v) do
    if is_timing(k) then
      timing = timing or {}
      timing[k] = x
    else
      local c, t = split_timing(x)
      clean[k] = c
      if t ~= nil then
        timing = timing or {}
        timing[k] = t
      end
    end
  end
  return clean, timing
end
E.split_timing = split_timing

-- A config as config.json stores it: functions and userdata (a model builder, data
-- sets passed as tables) become short descriptions, so scripts may put them in a config.
local function storable(v, seen)
  local t = type(v)
  if t == 'function' then return '<function>' end
  if t == 'userdata' then return '<' .. (tostring(v):match('^[%a_.]+') or 'userdata') .. '>' end
  if t ~= 'table' then return v end
  seen = seen or {}
  if seen[v] then return '<cycle>' end
  seen[v] = true
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do out[k] = storable(x, seen) end
  seen[v] = nil
  return out
end
E.storable = storable

local function canon(v) return json.decode(json.encode(storable(v))) end

local function sorted_keys(...)
  local seen, keys = {}, {}
  for i = 1, select('#', ...) do
    local t = select(i, ...)
    if type(t) == 'table' then
      for k in pairs(t) do
        if not seen[k] then seen[k], keys[#keys + 1] = true, k end
      end
    end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- Keys (dotted paths like 'train.threads' or plain names) listed in _volatile may change
-- between a run and its resumption: thread counts, progress output, data paths.
local function volatile_set(...)
  local set = { _volatile = true }
  for i = 1, select('#', ...) do
    local cfg = select(i, ...)
    if type(cfg) == 'table' and type(cfg._volatile) == 'table' then
      for _, k in ipairs(cfg._volatile) do set[tostring(k)] = true end
    end
  end
  return set
end

local function key_path(path, k)
  if math.type(k) == 'integer' then return (path or '') .. '[' .. k .. ']' end
  return path and (path .. '.' .. tostring(k)) or tostring(k)
end

-- A key one side lacks counts as its default (`def`, the driver's defaults at this
-- level), so a run written before an option existed resumes when the option is left at
-- its default, and a config that drops a key set to its default stays the same run.
local function config_diff(old, new, vol, path, out, def)
  if type(old) == 'table' and type(new) == 'table' then
    def = type(def) == 'table' and def or {}
    for _, k in ipairs(sorted_keys(old, new)) do
      local p = key_path(path, k)
      if not vol[p] and not vol[tostring(k)] then
        local o, n = old[k], new[k]
        if o == nil then o = def[k] elseif n == nil then n = def[k] end
        config_diff(o, n, vol, p, out, def[k])
      end
    end
  elseif old ~= new then
    out[#out + 1] = { path = path or '(config)', old = old, new = new }
  end
  return out
end

local function without_volatile(cfg, vol, path)
  if type(cfg) ~= 'table' then return cfg end
  local out = setmetatable({}, getmetatable(cfg))
  for k, v in pairs(cfg) do
    local p = key_path(path, k)
    if not vol[p] and not vol[tostring(k)] then out[k] = without_volatile(v, vol, p) end
  end
  return out
end

local function show(v)
  if v == nil then return 'absent' end
  local s = json.encode(v)
  return #s > 40 and s:sub(1, 37) .. '...' or s
end

local function check_int(v, what, fname)
  if not U.is_int(v, 0) then
    U.raise(("bad argument to '%s' (%s must be a non-negative integer, got %s)"):format(fname, what, tostring(v)))
  end
  return math.tointeger(v)
end

local function numeric_suffixes(dir, prefix)
  local out = {}
  for _, name in ipairs(fs.listdir(dir) or {}) do
    local n = name:match('^' .. prefix .. '_(%d+)$')
    if n and fs.isdir(dir .. '/' .. name) then out[#out + 1] = math.tointeger(tonumber(n)) end
  end
  table.sort(out)
  return out
end

-- ---- opening a run ---------------------------------------------------------------

E.FORMAT, E.LOCK = G.FORMAT, G.LOCK
E.classify = G.classify
local tagged, untagged, classify = G.tagged, G.untagged, G.classify
local remove_stale_temps, clear_run = G.remove_stale_temps, G.clear_run

-- E.open{root = 'runs', name = 'lenet_imp', config = cfg, restart = false, defaults = D}
-- -> run, or nil, message when the directory cannot be written or another process holds
-- the run (the message names its pid). With `defaults` (the driver's defaults table), a
-- key that the stored or the new config lacks counts as its default when the two are
-- compared: a run made before an option existed resumes with the option at its default. Misuse, a changed config and a directory that is not a run
-- raise. The run holds <dir>/lock (flock) until run:close(), garbage collection or the
-- process's end; stale temp files of killed writers are removed under it.
function E.open(opts)
  if type(opts) ~= 'table' then U.raise("bad argument #1 to 'open' (table expected)") end
  U.check_options(opts, { 'root', 'name', 'config', 'restart', 'defaults' }, 'lotto.experiment.open')
  local root, name = opts.root or 'runs', opts.name
  if type(root) ~= 'string' or root == '' then
    U.raise("bad argument to 'open' (root must be a non-empty string, got " .. tostring(root) .. ')')
  end
  if type(name) ~= 'string' or name == '' or not name:match('^[%w_%-%./]+$')
      or ('/' .. name .. '/'):find('/%.%.?/') or name:sub(1, 1) == '/' then
    U.raise("bad argument to 'open' (name must be a relative path of letters, digits, _ - . /, got "
      .. tostring(name) .. ')')
  end
  if opts.config ~= nil and type(opts.config) ~= 'table' then U.raise("bad argument to 'open' (config must be a table)") end
  if opts.defaults ~= nil and type(opts.defaults) ~= 'table' then U.raise("bad argument to 'open' (defaults must be a table)") end
  local dir = root .. '/' .. name
  local kind, why = classify(dir)
  if kind == 'foreign' then
    U.raise(("'%s' exists and is not a lotto run (%s); lotto does not %s it: choose another name or root, "
      .. 'or move it away yourself'):format(dir, why, opts.restart and 'remove' or 'write into'))
  end
  local ok, err = fs.mkdir_p(dir)
  if not ok then return nil, err end
  local lock, lerr = fs.lock(dir .. '/' .. E.LOCK)
  if not lock then return nil, lerr end
  -- Under the lock: what another process did before we got it counts (check again).
  kind, why = classify(dir)
  if kind == 'foreign' then
    lock:close()
    U.raise(("'%s' is not a lotto run (%s)"):format(dir, why))
  end
  if opts.restart then
    ok, err = clear_run(dir)
    if not ok then lock:close() return nil, err end
  end
  remove_stale_temps(dir, 2)
  local new = canon(opts.config or {})
  local cpath = dir .. '/config.json'
  local resumed = fs.exists(cpath)
  if resumed then
    local old, rerr = json.read(cpath)
    if not old then
      lock:close()
      U.raise(("run '%s' has an unreadable config (%s); use restart = true (or --restart) to start over"):format(dir, rerr))
    end
    old = untagged(old)
    local diffs = config_diff(old, new, volatile_set(old, new), nil, {}, opts.defaults and canon(opts.defaults))
    if #diffs > 0 then
      lock:close()
      local parts = {}
      for i = 1, math.min(3, #diffs) do
        parts[i] = ('%s: %s -> %s'):format(diffs[i].path, show(diffs[i].old), show(diffs[i].new))
      end
      if #diffs > 3 then parts[#parts + 1] = ('and %d more'):format(#diffs - 3) end
      U.raise(("run '%s' exists with a different config (%s); use restart = true (or --restart) to start over, "
        .. 'or another name'):format(dir, table.concat(parts, ', ')))
    end
  end
  ok, err = json.write(cpath, tagged(new), { indent = true })
  if not ok then lock:close() return nil, err end
  U.saved(('%s/config.json (no round complete yet)'):format(dir)) -- for the line printed on Ctrl-C
  return setmetatable({ root = root, name = name, dir = dir, config = new, resumed = resumed, _made = {},
                        _lock = lock }, Run)
end

-- run:close(): releases the run's lock (another process may then open it).
function Run:close()
  if self._lock then self._lock:close() end
end

-- E.load(dir) -> run with run.results (aggregated from the summaries, else results.json)
function E.load(dir)
  if type(dir) ~= 'string' then U.raise("bad argument #1 to 'load' (run directory expected)") end
  dir = dir:gsub('(.)/+$', '%1')
  local config, err = json.read(dir .. '/config.json')
  if not config then return nil, ('not a run directory (%s)'):format(err) end
  config = untagged(config)
  local root, name = dir:match('^(.*)/([^/]+)$')
  local run = setmetatable({ root = root or '.', name = name or dir, dir = dir, config = config, resumed = true, _made = {} }, Run)
  if #run:replicates() > 0 then
    local res, aerr = run:aggregate()
    if not res then return nil, aerr end
    run.results = res
  else
    local res, rerr = json.read(dir .. '/results.json')
    if not res then return nil, ('run %s has no summaries and no results (%s)'):format(dir, rerr) end
    run.results = res
  end
  return run
end

-- ---- paths and rounds ------------------------------------------------------------

function Run:__tostring()
  return ("run '%s' (%d replicates)"):format(self.dir, #self:replicates())
end

function Run:replicate_dir(seed)
  return self.dir .. '/replicate_' .. check_int(seed, 'seed', 'replicate_dir')
end

function Run:round_path(seed, k) -- the round's directory, not created
  return ('%s/replicate_%d/round_%d'):format(self.dir, check_int(seed, 'seed', 'round_path'), check_int(k, 'round', 'round_path'))
end

function Run:round_dir(seed, k)
  local d = self:round_path(seed, k)
  if not self._made[d] then
    assert(fs.mkdir_p(d))
    self._made[d] = true
  end
  return d
end

function Run:round_done(seed, k) return fs.exists(self:round_path(seed, k) .. '/summary.json') end

-- Starts (or restarts) round k of a replicate: removes whatever an interrupted attempt left.
function Run:begin_round(seed, k)
  local d = self:round_path(seed, k)
  assert(fs.remove_tree(d))
  self._made[d] = nil
  return self:round_dir(seed, k)
end

-- The summary of a completed round, checked; nil, message (naming the file and the fix)
-- when it is missing or damaged.
function Run:load_summary(seed, k)
  local p = self:round_path(seed, k) .. '/summary.json'
  local ok, s, err = pcall(json.read, p)
  if ok and s == nil and not fs.exists(p) then return nil, err end
  local why = not ok and U.strip(s) or (s == nil and err) or G.summary_problem(s, k)
  if why then
    return nil, ("%s is damaged (%s): delete %s to redo that round, or use restart = true"):format(p, why,
      self:round_path(seed, k))
  end
  return s
end

function Run:write_summary(seed, k, tbl)
  if type(tbl) ~= 'table' then U.raise("bad argument #3 to 'write_summary' (table expected)") end
  local p = self:round_dir(seed, k) .. '/summary.json'
  local ok, err = json.write(p, tbl, { indent = true })
  if not ok then return nil, err end
  U.saved(('%s/ up to seed %s round %s (a rerun resumes at the next round)'):format(self.dir, tostring(seed), tostring(k)))
  return p
end

function Run:metrics_path(seed, k) return self:round_dir(seed, k) .. '/metrics.jsonl' end
function Run:mask_path(seed, k) return self:round_dir(seed, k) .. '/mask.safetensors' end

function Run:log_metric(seed, k, rec)
  if type(rec) ~= 'table' then U.raise("bad argument #3 to 'log_metric' (table expected)") end
  return json.append_line(self:metrics_path(seed, k), rec)
end

-- Records of a round's metrics.jsonl (optionally only those of one method).
function Run:load_metrics(seed, k, method)
  local recs, err = json.read_lines(self:round_path(seed, k) .. '/metrics.jsonl')
  if not recs or not method then return recs, err end
  local out = json.array()
  for _, r in ipairs(recs) do
    if r.method == method then out[#out + 1] = r end
  end
  return out
end

function Run:replicates() return numeric_suffixes(self.dir, 'replicate') end

function Run:completed_rounds(seed)
  local out = {}
  for _, k in ipairs(numeric_suffixes(self:replicate_dir(seed), 'round')) do
    if self:round_done(seed, k) then out[#out + 1] = k end
  end
  return out
end

-- ---- aggregation -----------------------------------------------------------------

-- mean, sample std (n - 1; 0 for one value), min, max, n of the numbers in xs
local function stats(xs)
  local n, sum, lo, hi = #xs, 0, math.huge, -math.huge
  for _, x in ipairs(xs) do
    sum = sum + x
    lo, hi = math.min(lo, x), math.max(hi, x)
  end
  local mean, ss = sum / n, 0
  for _, x in ipairs(xs) do ss = ss + (x - mean) ^ 2 end
  return { mean = mean, std = n > 1 and math.sqrt(ss / (n - 1)) or 0.0, min = lo, max = hi, n = n }
end
E.stats = stats

local function mean_of(list, key)
  local xs = {}
  for _, s in ipairs(list) do
    if type(s[key]) == 'number' then xs[#xs + 1] = s[key] end
  end
  return #xs > 0 and stats(xs).mean or nil
end

local function method_stats(list, method)
  local tables = {}
  for _, s in ipairs(list) do
    if type(s.runs) == 'table' and type(s.runs[method]) == 'table' then tables[#tables + 1] = s.runs[method] end
  end
  local out = {}
  for _, metric in ipairs(sorted_keys(table.unpack(tables))) do
    local xs = {}
    for _, t in ipairs(tables) do
      if type(t[metric]) == 'number' and t[metric] == t[metric] then xs[#xs + 1] = t[metric] end
    end
    if #xs > 0 then out[metric] = stats(xs) end
  end
  return out
end

-- Reads every replicate's completed summaries; returns results, timing (see results.json
-- in the design notes), or nil, message when a summary cannot be read.
-- `run:write_results(assert(run:aggregate()))` stores both.
function Run:aggregate()
  local replicates, timing, by_round = {}, { replicates = {} }, {}
  for _, seed in ipairs(self:replicates()) do
    local list, tlist = json.array(), json.array()
    for _, k in ipairs(self:completed_rounds(seed)) do
      local s, err = self:load_summary(seed, k)
      if not s then return nil, ('aggregate: %s'):format(err) end
      local clean, t = split_timing(s)
      if clean.round == nil then clean.round = k end
      if clean.remaining_pct == nil and type(clean.density) == 'number' then clean.remaining_pct = clean.density * 100 end
      list[#list + 1] = clean
      if t then
        t.round = k
        tlist[#tlist + 1] = t
      end
      by_round[k] = by_round[k] or {}
      table.insert(by_round[k], clean)
    end
    replicates[tostring(seed)] = list
    if #tlist > 0 then timing.replicates[tostring(seed)] = tlist end
  end
  local rounds = sorted_keys(by_round)
  table.sort(rounds)
  local agg = json.array()
  for _, k in ipairs(rounds) do
    local list, methods = by_round[k], {}
    local names = {}
    for _, s in ipairs(list) do
      if type(s.runs) == 'table' then names[#names + 1] = s.runs end
    end
    for _, m in ipairs(sorted_keys(table.unpack(names))) do methods[m] = method_stats(list, m) end
    agg[#agg + 1] = { round = k, remaining_pct = mean_of(list, 'remaining_pct'), density = mean_of(list, 'density'),
      replicates = #list, methods = methods }
  end
  local results = {
    name = self.name,
    config = without_volatile(self.config, volatile_set(self.config)),
    replicates = replicates,
    aggregate = agg,
  }
  if by_round[0] then results.dense = method_stats(by_round[0], 'ticket') end
  return results, timing
end

-- Writes results.json (timing fields moved out) and timing.json, atomically. timing.json
-- also records the BLAS the writing process ran on (library, version, kernel, threads) and
-- whether 3x3 convolutions took the Winograd path (it rounds differently from the GEMM path).
-- Returns the path of results.json, or nil, message.
function Run:write_results(tbl, timing)
  if type(tbl) ~= 'table' then U.raise("bad argument #1 to 'write_results' (table expected)") end
  local clean, stray = split_timing(tbl)
  timing = timing or stray or {}
  local b = tensor.blas_info()
  timing.blas = { library = b.library, version = b.version, kernel = b.kernel, threads = b.threads, cpu = b.cpu,
    forced = b.forced }
  timing.winograd, timing.winograd_tile = nn.winograd()
  local p = self.dir .. '/results.json'
  local ok, err = json.write(p, clean, { indent = true })
  if ok and timing then ok, err = json.write(self.dir .. '/timing.json', timing, { indent = true }) end
  if not ok then return nil, err end
  return p
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(E, {
    open = "open{root = 'runs', name =, config =, restart = false, defaults =} -> run | nil, msg: creates or resumes runs/<name> "
      .. "and holds its lock (nil, msg naming the holder's pid); a different config, or a directory that is not a run, is an error "
      .. "(a key one config lacks counts as its value in defaults)",
    classify = "classify(dir) -> 'absent' | 'empty' | 'run' | 'foreign', why: whether lotto may write or remove dir",
    load = 'load(dir) -> run with run.results | nil, msg: an existing run, for plotting',
    stats = 'stats(xs) -> {mean, std (n - 1), min, max, n}',
  })
  help.register(E, {
    [':close'] = 'run:close(): releases the run lock (another process may open the run)',
    [':round_dir'] = 'run:round_dir(seed, k) -> path of replicate_<seed>/round_<k>, created',
    [':round_done'] = 'run:round_done(seed, k) -> true when summary.json of the round exists',
    [':begin_round'] = 'run:begin_round(seed, k) -> dir: deletes what an interrupted attempt left',
    [':load_summary'] = 'run:load_summary(seed, k) -> table | nil, msg: checked (object, density, runs of numbers)',
    [':write_summary'] = 'run:write_summary(seed, k, tbl) -> path | nil, msg: atomic; marks the round complete',
    [':metrics_path'] = 'run:metrics_path(seed, k) -> path of the round metrics.jsonl',
    [':mask_path'] = 'run:mask_path(seed, k) -> path of the round mask.safetensors',
    [':log_metric'] = 'run:log_metric(seed, k, rec) -> true | nil, msg: appends one JSON line',
    [':load_metrics'] = 'run:load_metrics(seed, k[, method]) -> records | nil, msg',
    [':replicates'] = 'run:replicates() -> sorted seeds with a directory',
    [':completed_rounds'] = 'run:completed_rounds(seed) -> sorted rounds with a summary',
    [':aggregate'] = 'run:aggregate() -> results, timing | nil, msg: mean/std/min/max per round and method',
    [':write_results'] = 'run:write_results(results[, timing]) -> path | nil, msg: results.json (no timings) and timing.json',
  }, Run)
end

return E
