-- lotto.experiment.guard: what the run store may touch and what it accepts back. A
-- directory is a run only when its config.json carries the format tag (lotto never
-- removes or writes into anything else); stale temp files of killed writers are removed
-- under the run's lock; summaries read back are checked before they are aggregated.
local fs = require 'lotto.fs'
local json = require 'lotto.json'

local G = {}

-- config.json carries this tag: a directory is a run (that lotto may resume, clear or
-- restart) only when its config.json says so. lotto never removes what it cannot prove
-- it wrote.
G.FORMAT = 'lotto.run/1'
G.LOCK = 'lock'

function G.tagged(cfg)
  local out = {}
  for k, v in pairs(cfg) do out[k] = v end
  out._format = G.FORMAT
  return setmetatable(out, getmetatable(cfg))
end

function G.untagged(cfg)
  if type(cfg) ~= 'table' or cfg._format == nil then return cfg end
  local out = {}
  for k, v in pairs(cfg) do
    if k ~= '_format' then out[k] = v end
  end
  return setmetatable(out, getmetatable(cfg))
end

-- What dir is: 'absent', 'empty' (nothing, or only a lock file), 'run' (config.json with
-- the tag), or 'foreign' with a reason.
function G.classify(dir)
  if not fs.exists(dir) then return 'absent' end
  if not fs.isdir(dir) then return 'foreign', 'it is not a directory' end
  local names = fs.listdir(dir)
  if not names then return 'foreign', 'it cannot be listed' end
  if #names == 0 or (#names == 1 and names[1] == G.LOCK) then return 'empty' end
  local cpath = dir .. '/config.json'
  if not fs.exists(cpath) then return 'foreign', 'it has no config.json' end
  local ok, cfg = pcall(json.read, cpath)
  if ok and type(cfg) == 'table' and cfg._format == G.FORMAT then return 'run' end
  if ok and type(cfg) == 'table' then return 'foreign', ("its config.json has no _format = '" .. G.FORMAT .. "'") end
  return 'foreign', 'its config.json cannot be read'
end

-- Files named <file>.tmp.<pid> are atomic writes that never finished; under the run's
-- lock every writer of this run is gone, so they are removed (in the run directory,
-- its replicates and their rounds).
function G.remove_stale_temps(dir, depth)
  for _, n in ipairs(fs.listdir(dir) or {}) do
    local p = dir .. '/' .. n
    if n:match('%.tmp%.%d+$') and not fs.isdir(p) then
      fs.remove(p)
    elseif depth > 0 and (n:match('^replicate_%d+$') or n:match('^round_%d+$')) and fs.isdir(p) then
      G.remove_stale_temps(p, depth - 1)
    end
  end
end

-- Empties a run directory except for its lock file (held by this process).
function G.clear_run(dir)
  for _, n in ipairs(fs.listdir(dir) or {}) do
    if n ~= G.LOCK then
      local ok, err = fs.remove_tree(dir .. '/' .. n)
      if not ok then return nil, err end
    end
  end
  return true
end

-- What a summary must be: an object with density in [0, 1], round (if given) = k, and
-- runs = {method = {metric = number, ...}}. Returns nil or what is wrong.
function G.summary_problem(s, k)
  if type(s) ~= 'table' or getmetatable(s) == json.array_mt or (next(s) ~= nil and #s > 0) then
    return 'not a JSON object'
  end
  if s.round ~= nil and s.round ~= k then return ('round is %s, not %d'):format(tostring(s.round), k) end
  if type(s.density) ~= 'number' or not (s.density >= 0 and s.density <= 1) then
    return 'density must be a number in [0, 1]'
  end
  if s.remaining_pct ~= nil and type(s.remaining_pct) ~= 'number' then return 'remaining_pct must be a number' end
  if type(s.runs) ~= 'table' or #s.runs > 0 then return 'runs must be an object {method = {metric = number}}' end
  for m, r in pairs(s.runs) do
    if type(r) ~= 'table' then return ('runs.%s must be an object'):format(tostring(m)) end
    for metric, v in pairs(r) do
      if type(v) ~= 'number' then return ('runs.%s.%s must be a number'):format(tostring(m), tostring(metric)) end
    end
  end
end

return G
