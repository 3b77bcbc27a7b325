-- sweep.lua: a grid of experiments as one table. lotto.sweep{name =, driver =, base =,
-- grid =, cells =, seeds =} expands into units (cell x seed), each one resumable driver
-- run in the store, and runs them with a backend: 'local' (worker processes,
-- lotto.sweep.backend_local) or 'slurm' (a job array, lotto.sweep.slurm). The store:
--
--   runs/<sweep>/sweep.json                      the definition (base config refused if changed)
--   runs/<sweep>/<cell>/cell.json                the cell's overrides
--   runs/<sweep>/<cell>/replicate_<seed>/        one unit: a whole driver run (config.json,
--                                                replicate_<seed>/round_<k>/..., results.json)
--   runs/<sweep>/<cell>/replicate_<seed>.state.json   running | done | failed | interrupted
--   runs/<sweep>/results.json, timing.json, plots/    written by collect
--
-- A driver is 'imp', 'one_shot' or 'module.function': a function that takes the base
-- config with the cell's overrides plus name, root, seeds = {seed}, threads and
-- restart = false, and writes its run to <root>/<name> in the run store's layout
-- (lotto.experiment), which is what collect reads.
--
-- A unit is a whole IMP replicate (every round, ticket and controls), so units never
-- depend on each other and never write the same file. Each unit writes only its own
-- directory, state file and log; the launcher writes sweep.json and cell.json before any
-- unit starts; collect reads only units whose state says done.
local util = require 'lotto.util'
local json = require 'lotto.json'
local fs = require 'lotto.fs'

local S = {}

S.DRIVERS = { imp = 'lotto.ticket.imp', one_shot = 'lotto.ticket.one_shot' }
-- Options of the sweep table itself; everything the driver takes goes in base.
S.OPTIONS = {
  name = true, root = true, driver = true, base = true, grid = true, cells = true, seeds = true, threads = true,
  backend = true, jobs = true, slurm = true, restart = true, dry_run = true, wait = true, collect = true, quiet = true,
}
-- Driver options a sweep sets per unit: a base config may not hold them.
local RESERVED = { name = 'name', root = 'root', seeds = 'seeds', threads = 'threads', restart = 'restart' }

local function bad(msg, ...) util.user_error('lotto.sweep: ' .. msg:format(...)) end

-- ---- small helpers ------------------------------------------------------------------

local function is_int(v, lo) return math.type(v) == 'integer' and v >= (lo or 0) end

-- Levenshtein distance, for "did you mean".
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a:byte(i) == b:byte(j) and 0 or 1))
    end
    prev = cur
  end
  return prev[#b]
end

function S.suggest(word, set)
  local best, bd = nil, 3
  for k in pairs(set) do
    local d = distance(word, tostring(k))
    if d < bd or (d == bd and best and tostring(k) < best) then best, bd = tostring(k), d end
  end
  return best and (" (did you mean '%s'?)"):format(best) or ''
end

-- Plain data only: a unit runs in another process, maybe on another machine.
local function check_plain(v, where)
  local t = type(v)
  if t == 'function' or t == 'userdata' or t == 'thread' then
    bad("%s is a %s: units run in separate processes (or on other machines), so a sweep's config must be "
      .. "plain data (strings, numbers, booleans, tables): name a model or data set, or use driver = 'module.function'",
      where, t)
  end
  if t == 'table' then
    for k, x in pairs(v) do check_plain(x, where .. (math.type(k) == 'integer' and ('[%d]'):format(k) or '.' .. tostring(k))) end
  end
end

local function copy(v)
  if type(v) ~= 'table' then return v end
  local out = setmetatable({}, getmetatable(v))
  for k, x in pairs(v) do out[k] = copy(x) end
  return out
end

local function canon(v) return json.decode(json.encode(v)) end

-- 32-bit FNV-1a of a string, as 8 hex digits.
local function hash8(s)
  local h = 0x811c9dc5
  for i = 1, #s do h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  return ('%08x'):format(h)
end

local show_value
function show_value(v)
  if math.type(v) == 'integer' then return tostring(v) end
  if type(v) == 'number' then
    local s = ('%.6g'):format(v)
    return tonumber(s) == v and s or ('%.17g'):format(v)
  end
  if type(v) == 'table' then -- a list of scalars reads as a+b+c, anything else as JSON
    local parts = {}
    for i, x in ipairs(v) do
      if type(x) == 'table' then parts = nil; break end
      parts[i] = show_value(x)
    end
    if parts and #parts == #v and next(v, #v > 0 and #v or nil) == nil then return table.concat(parts, '+') end
    return json.encode(v)
  end
  return tostring(v)
end

-- ---- cells ----------------------------------------------------------------------------

local function split_path(path)
  local parts = {}
  for p in path:gmatch('[^.]+') do parts[#parts + 1] = p end
  return parts
end

-- A stable, readable directory name for a cell's overrides: 'prune.rate=0.2,rewind=100';
-- a short hash is appended when the text is long or had to be changed to be a safe name.
function S.cell_key(overrides)
  local paths = {}
  for p in pairs(overrides) do paths[#paths + 1] = p end
  table.sort(paths)
  if #paths == 0 then return 'base' end
  local parts = {}
  for i, p in ipairs(paths) do parts[i] = p .. '=' .. show_value(overrides[p]) end
  local raw = table.concat(parts, ',')
  local safe = raw:gsub('[^%w%.%-_=,+]', '_')
  if safe == raw and #raw <= 64 then return raw end
  return safe:sub(1, 48) .. '-' .. hash8(json.encode(overrides))
end

-- Applies {['prune.rate'] = 0.3, rewind = 100} to a copy of base.
function S.apply(base, overrides)
  local cfg = copy(base)
  local paths = {}
  for p in pairs(overrides) do paths[#paths + 1] = p end
  table.sort(paths)
  for _, path in ipairs(paths) do
    local parts, t = split_path(path), cfg
    for i = 1, #parts - 1 do
      local k = parts[i]
      if t[k] == nil then t[k] = {} end
      if type(t[k]) ~= 'table' then
        bad("grid key '%s': base.%s is a %s, not a table", path, table.concat(parts, '.', 1, i), type(t[k]))
      end
      t = t[k]
    end
    t[parts[#parts]] = copy(overrides[path])
  end
  return cfg
end

-- The cells of a spec: the product of the grid (keys in sorted order, values in the
-- given order), then the explicit cells. Each is {key =, overrides =}.
function S.cells(spec)
  local grid, keys = spec.grid or {}, {}
  for k in pairs(grid) do keys[#keys + 1] = k end
  table.sort(keys)
  local out, seen = {}, {}
  local function add(ov, where)
    local key = S.cell_key(ov)
    if seen[key] then
      if json.encode(seen[key]) ~= json.encode(ov) then bad('%s: two cells share the key %s', where, key) end
      return
    end
    seen[key] = ov
    out[#out + 1] = { key = key, overrides = ov }
  end
  local function rec(i, ov)
    if i > #keys then return add(copy(ov), 'grid') end
    for _, v in ipairs(grid[keys[i]]) do
      ov[keys[i]] = v
      rec(i + 1, ov)
    end
    ov[keys[i]] = nil
  end
  if #keys > 0 or not spec.cells then rec(1, {}) end
  for i, c in ipairs(spec.cells or {}) do add(copy(c), ('cells[%d]'):format(i)) end
  return out
end

-- ---- the spec --------------------------------------------------------------------------

local function driver_keys(driver)
  if driver ~= 'imp' and driver ~= 'one_shot' then return nil end
  local keys = {}
  for k in pairs(require('lotto.ticket').defaults) do keys[k] = true end
  if driver == 'one_shot' then keys.density = true end
  return keys
end

-- The driver function for a name ('imp', 'one_shot' or 'module.function').
function S.driver(name)
  local full = S.DRIVERS[name] or name
  local mod, fn = full:match('^(.+)%.([%w_]+)$')
  if not mod then bad("driver '%s' must be 'imp', 'one_shot' or 'module.function'", tostring(name)) end
  local ok, m = pcall(require, mod)
  if not ok then bad("driver '%s': %s", name, tostring(m):match('^[^\n]*')) end
  if type(m) ~= 'table' or type(m[fn]) ~= 'function' then bad("driver '%s': module %s has no function %s", name, mod, fn) end
  return m[fn]
end

-- Checks a sweep table; returns a normalised copy {name, root, driver, base, grid, cells, seeds, threads}.
function S.normalize(spec)
  if type(spec) ~= 'table' then bad('expected a sweep table {name =, base =, grid =, seeds =}') end
  for k in pairs(spec) do
    if not S.OPTIONS[k] then bad("unknown option '%s'%s; driver options go in base", tostring(k), S.suggest(tostring(k), S.OPTIONS)) end
  end
  local s = {}
  s.name = spec.name
  if type(s.name) ~= 'string' or not s.name:match('^[%w_%-%.]+$') or s.name:match('^%.') then
    bad("option 'name' must be a non-empty name of letters, digits, _ - . (got %s)", tostring(s.name))
  end
  s.root = spec.root or 'runs'
  if type(s.root) ~= 'string' or s.root == '' then bad("option 'root' must be a directory (got %s)", tostring(s.root)) end
  s.driver = spec.driver or 'imp'
  if type(s.driver) ~= 'string' then bad("option 'driver' must be 'imp', 'one_shot' or 'module.function'") end
  S.driver(s.driver)
  local base = spec.base or {}
  if type(base) ~= 'table' then bad("option 'base' must be a table of %s options", s.driver) end
  check_plain(base, 'base')
  local known = driver_keys(s.driver)
  for k in pairs(base) do
    if RESERVED[k] then bad("base.%s is set by the sweep: use the sweep's option '%s'", k, RESERVED[k]) end
    if known and not known[k] then bad("base.%s is not an option of %s%s", tostring(k), s.driver, S.suggest(tostring(k), known)) end
  end
  s.base = canon(base)
  local grid = spec.grid or {}
  if type(grid) ~= 'table' then bad("option 'grid' must be a table {['key.path'] = {values...}}") end
  s.grid = {}
  for k, vals in pairs(grid) do
    if type(k) ~= 'string' or not k:match('^[%a_][%w_]*[%w_.]*$') then bad("grid key %s must be an option name or dotted path", tostring(k)) end
    local top = k:match('^[^.]+')
    if RESERVED[top] then bad("grid key '%s' is set by the sweep: use the sweep's option '%s'", k, RESERVED[top]) end
    if known and not known[top] then bad("grid key '%s': '%s' is not an option of %s%s", k, top, s.driver, S.suggest(top, known)) end
    if type(vals) ~= 'table' or #vals == 0 then bad("grid['%s'] must be a non-empty list of values", k) end
    check_plain(vals, ("grid['%s']"):format(k))
    s.grid[k] = canon(json.array(copy(vals)))
  end
  if spec.cells ~= nil and type(spec.cells) ~= 'table' then bad("option 'cells' must be a list of override tables") end
  s.cells = json.array()
  for i, c in ipairs(spec.cells or {}) do
    if type(c) ~= 'table' then bad('cells[%d] must be a table of overrides', i) end
    check_plain(c, ('cells[%d]'):format(i))
    for k in pairs(c) do
      local top = type(k) == 'string' and k:match('^[^.]+')
      if not top then bad('cells[%d]: keys must be option names or dotted paths (got %s)', i, tostring(k)) end
      if RESERVED[top] then bad("cells[%d].%s is set by the sweep: use the sweep's option '%s'", i, k, RESERVED[top]) end
      if known and not known[top] then bad("cells[%d]: '%s' is not an option of %s%s", i, top, s.driver, S.suggest(top, known)) end
    end
    s.cells[i] = canon(c)
  end
  local seeds = spec.seeds or { 1 }
  if math.type(seeds) == 'integer' then seeds = { seeds } end
  if type(seeds) ~= 'table' or #seeds == 0 then bad("option 'seeds' must be a non-empty list of integers") end
  s.seeds = json.array()
  for i, v in ipairs(seeds) do
    if not is_int(v) then bad("seeds[%d] must be a non-negative integer (got %s)", i, tostring(v)) end
    s.seeds[i] = v
  end
  s.threads = spec.threads or 1
  if not is_int(s.threads, 1) then bad("option 'threads' must be a positive integer (got %s)", tostring(s.threads)) end
  S.cells(s) -- key clashes fail here
  for _, c in ipairs(S.cells(s)) do S.apply(s.base, c.overrides) end -- so do paths through non-tables
  return s
end

-- ---- the store -------------------------------------------------------------------------

function S.dir(s) return s.root .. '/' .. s.name end

local function first_diff(a, b, path)
  if type(a) == 'table' and type(b) == 'table' then
    local keys, seen = {}, {}
    for k in pairs(a) do if not seen[k] then seen[k] = true; keys[#keys + 1] = k end end
    for k in pairs(b) do if not seen[k] then seen[k] = true; keys[#keys + 1] = k end end
    table.sort(keys, function(x, y) return tostring(x) < tostring(y) end)
    for _, k in ipairs(keys) do
      local d = first_diff(a[k], b[k], path .. '.' .. tostring(k))
      if d then return d end
    end
    return nil
  end
  if a ~= b then return ('%s: %s -> %s'):format(path, a == nil and 'absent' or show_value(a), b == nil and 'absent' or show_value(b)) end
end

-- Creates or reopens runs/<sweep>: writes sweep.json and each cell.json. A different
-- driver or base config is refused (restart = true deletes the sweep first); the grid,
-- cells and seeds may change (new cells are added, finished units are kept).
function S.open(s, restart)
  local dir = S.dir(s)
  if restart then assert(fs.remove_tree(dir)) end
  local old = fs.exists(dir .. '/sweep.json') and json.read(dir .. '/sweep.json')
  if fs.exists(dir .. '/sweep.json') and not old then bad("%s/sweep.json is unreadable; use --restart to start over", dir) end
  if old then
    local d = old.driver ~= s.driver and ('driver: %s -> %s'):format(old.driver, s.driver) or first_diff(old.base, s.base, 'base')
    if d then
      bad("sweep '%s' exists with a different config (%s); use restart = true (or --restart) to start over, or another name", dir, d)
    end
  end
  assert(fs.mkdir_p(dir))
  local cells = S.cells(s)
  for _, c in ipairs(cells) do
    assert(fs.mkdir_p(dir .. '/' .. c.key))
    assert(json.write(dir .. '/' .. c.key .. '/cell.json', { key = c.key, overrides = c.overrides }, { indent = true }))
  end
  assert(json.write(dir .. '/sweep.json', { name = s.name, driver = s.driver, base = s.base, grid = s.grid,
    cells = s.cells, seeds = s.seeds, threads = s.threads, version = 1 }, { indent = true }))
  return dir, old ~= false and old ~= nil
end

-- Reads runs/<sweep>/sweep.json back into a normalised spec (root = the parent dir).
function S.load(dir)
  if type(dir) ~= 'string' then error("bad argument #1 to 'load' (sweep directory expected)", 2) end
  dir = dir:gsub('(.)/+$', '%1')
  local t, err = json.read(dir .. '/sweep.json')
  if not t then return nil, ('%s is not a sweep directory (%s)'):format(dir, err) end
  local root, name = dir:match('^(.*)/([^/]+)$')
  t.root, t.name = root or '.', name or dir
  return t
end

-- Every unit of a sweep: {id = '<cell>/<seed>', cell =, seed =, overrides =, dir =, state_path =}.
function S.units(s, dir)
  dir = dir or S.dir(s)
  local out = {}
  for _, c in ipairs(S.cells(s)) do
    for _, seed in ipairs(s.seeds) do
      local base = ('%s/%s/replicate_%d'):format(dir, c.key, seed)
      out[#out + 1] = { id = c.key .. '/' .. seed, cell = c.key, seed = seed, overrides = c.overrides, dir = base,
        state_path = base .. '.state.json', log = base .. '.log' }
    end
  end
  return out
end

-- The driver config of a unit: base + overrides, and what the sweep sets.
function S.unit_config(s, unit, threads)
  local cfg = S.apply(s.base, unit.overrides)
  cfg.name, cfg.root = 'replicate_' .. unit.seed, unit.dir:match('^(.*)/[^/]+$')
  cfg.seeds, cfg.threads, cfg.restart = { unit.seed }, threads or s.threads, false
  if s.driver == 'imp' or s.driver == 'one_shot' then
    cfg.progress = false
    if cfg.plots == nil then cfg.plots = false end
  end
  return cfg
end

-- lotto.sweep{...} runs a sweep (lotto.sweep.run); the functions above are its parts.
S.run = function(spec, opts) return require('lotto.sweep.run').run(spec, opts) end
S.options = function(argv) return require('lotto.sweep.run').options(argv) end
S.status = function(dir) return require('lotto.sweep.state').status(dir) end
S.collect = function(dir, opts) return require('lotto.sweep.collect').collect(dir, opts) end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(S, {
    run = "run{name =, driver = 'imp', base = {...}, grid = {['key.path'] = {values}}, cells =, seeds =, threads = 1, "
      .. "backend = 'local'|'slurm', jobs =, slurm = {...}}[, opts] -> summary; also lotto.sweep{...}",
    options = 'options(argv) -> opts, rest: the sweep options of an argument list (--backend, --jobs, --dry-run, ...)',
    status = 'status(dir) -> survey: prints the units of runs/<sweep> (done, running, failed, pending)',
    collect = 'collect(dir[, {format =, plots = true}]) -> results, missing: results.json and plots of the finished units',
    cells = 'cells(spec) -> {{key =, overrides =}}: the grid product, then the explicit cells',
    cell_key = "cell_key(overrides) -> 'prune.rate=0.2,rewind=100': a cell's directory name",
    apply = 'apply(base, overrides) -> config: dotted keys set nested options',
    units = 'units(spec[, dir]) -> {{id = cell/seed, dir =, ...}}',
    load = 'load(dir) -> spec | nil, msg: the sweep.json of runs/<sweep>',
  })
end

return setmetatable(S, { __call = function(_, spec, opts) return S.run(spec, opts) end })
