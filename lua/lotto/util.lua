-- lotto.util: what every Lua module of the library needs to check its arguments (the
-- Lua side's lauxlib). Errors read "lotto.ticket: unknown option 'rat' (did you mean
-- 'rate'?)" and point at the first line outside the library (the user's script), so a
-- message names both the bad key and where it was passed.
--
--   local U = require 'lotto.util'
--   opts = U.check_options(opts, { rate = true, seed = true }, 'lotto.prune.magnitude')
--   local n = U.int_opt(opts, 'batch', 60, 1, 'lotto.data.loader')
--   if not U.is_model(m) then U.fail('lotto.ticket.rewind', 'expected a model') end
local tensor = require 'lotto.tensor'
local core_nn = require 'lotto.core.nn'

local U = {}

-- Sources of this library's files: '@<dir>/lotto/' (util.lua lives in lua/lotto/).
local LIB = debug.getinfo(1, 'S').source:match('^(@.*/)[^/]*$') or '@lotto/'

local function in_library(info)
  return info.what == 'C' or info.source:sub(1, #LIB) == LIB
end

-- The error() level, counted from the function that called user_level, of the first
-- caller outside lua/lotto (0 when there is none: no position).
local function user_level()
  local level = 2
  while true do
    local info = debug.getinfo(level + 1, 'S')
    if not info then return 0 end
    if not in_library(info) then return level end
    level = level + 1
  end
end

-- Errors raised here are user errors (a typo, a bad value, a missing file): the host
-- prints their message without a traceback unless LOTTO_TRACEBACK=1 or -v asks for one.
-- It recognises them by the registry field below, which holds the last such message.
local REG = debug.getregistry()

--- fail(where, msg): raises "<where>: <msg>" at the user's line (outside lua/lotto).
function U.fail(where, msg)
  msg = tostring(msg)
  msg = where ~= nil and (tostring(where) .. ': ' .. msg) or msg
  REG['lotto.user_error'] = msg
  error(msg, user_level())
end

--- raise(msg): raises msg as given at the user's line (for messages already prefixed).
function U.raise(msg)
  msg = tostring(msg)
  REG['lotto.user_error'] = msg
  error(msg, user_level())
end

--- user_error(msg): raises msg as a user error with no position (a usage error of a
-- command line, where the line of the script says nothing).
function U.user_error(msg)
  msg = tostring(msg)
  REG['lotto.user_error'] = msg
  error(msg, 0)
end

--- traceback(on): on = true shows tracebacks of user errors too (what -v and
-- LOTTO_TRACEBACK=1 do); returns whether they are shown.
function U.traceback(on)
  if on ~= nil then REG['lotto.traceback'] = on and true or nil end
  local env = os.getenv('LOTTO_TRACEBACK')
  return REG['lotto.traceback'] == true or (env ~= nil and env ~= '' and env ~= '0')
end

--- saved(text): what a long run has stored so far, for the line printed on Ctrl-C
-- ("runs/x: seed 1 rounds 0-2 complete"); nil clears it.
function U.saved(text) REG['lotto.saved'] = text end

--- strip(msg) -> msg without the leading "file:line: " position of a Lua error.
function U.strip(msg) return (tostring(msg):gsub('^[^:\n]*:%d+: ', '')) end

-- Edit distance with adjacent transpositions (optimal string alignment): 'rat' -> 'rate'
-- and 'bais' -> 'bias' are one edit. Capped at 3.
local function distance(a, b)
  if math.abs(#a - #b) > 2 then return 3 end
  local d = {}
  for i = 0, #a do d[i] = { [0] = i } end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local cost = a:byte(i) == b:byte(j) and 0 or 1
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if i > 1 and j > 1 and a:byte(i) == b:byte(j - 1) and a:byte(i - 1) == b:byte(j) then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end

--- closest(name, names) -> the candidate most like name, or nil: one edit away for a
-- name of 3 to 5 letters, two for a longer one, or a prefix of at least 3 letters.
-- names: a list or a set {name = true}.
function U.closest(name, names)
  if type(name) ~= 'string' or #name < 3 then return nil end
  local maxd = #name >= 6 and 2 or 1
  local list = {}
  for k, v in pairs(names) do list[#list + 1] = math.type(k) == 'integer' and v or k end
  table.sort(list, function(x, y) return tostring(x) < tostring(y) end)
  local best, bd = nil, maxd + 1
  for _, c in ipairs(list) do
    if type(c) == 'string' and c:sub(1, 1) ~= '_' then
      local d = distance(name:lower(), c:lower())
      if d > maxd and (c:sub(1, #name) == name or name:sub(1, #c) == c) then d = maxd end
      if d < bd then best, bd = c, d end
    end
  end
  return best
end

--- did_you_mean(name, names) -> " (did you mean 'x'?)" or ''.
function U.did_you_mean(name, names)
  local c = U.closest(name, names)
  return c and (" (did you mean '%s'?)"):format(c) or ''
end

local function as_set(allowed)
  if allowed[1] == nil then return allowed end
  local set = {}
  for _, k in ipairs(allowed) do set[k] = true end
  return set
end

--- check_options(opts, allowed, where) -> opts, or {} for nil. allowed: a set
-- {key = true} or a list of keys. Raises "where: options must be a table (got ...)" or
-- "where: unknown option 'rat' (did you mean 'rate'?)".
function U.check_options(opts, allowed, where)
  if opts == nil then return {} end
  if type(opts) ~= 'table' then U.fail(where, ('options must be a table (got %s)'):format(type(opts))) end
  local set = as_set(allowed)
  for k in pairs(opts) do
    if not set[k] then
      U.fail(where, ("unknown option '%s'%s"):format(tostring(k), U.did_you_mean(k, set)))
    end
  end
  return opts
end

--- merge(defaults, opts, where[, what]) -> a new table: defaults overridden by opts, every
-- key of opts checked against the defaults (what names where to look, e.g.
-- 'see lotto.ticket.defaults').
function U.merge(defaults, opts, where, what)
  if opts ~= nil and type(opts) ~= 'table' then
    U.fail(where, ('expected an options table%s (got %s)'):format(what and (' (' .. what .. ')') or '', type(opts)))
  end
  local out = {}
  for k, v in pairs(defaults) do out[k] = v end
  for k, v in pairs(opts or {}) do
    if defaults[k] == nil then
      U.fail(where, ("unknown option '%s'%s%s"):format(tostring(k), U.did_you_mean(k, defaults),
        what and (' (' .. what .. ')') or ''))
    end
    out[k] = v
  end
  return out
end

--- is_int(v[, lo]) -> true for an integer (or an integral float) >= lo.
function U.is_int(v, lo)
  return type(v) == 'number' and math.tointeger(v) ~= nil and v >= (lo or math.mininteger)
end

--- int_opt(opts, key, default, min, where) -> opts[key] as an integer >= min, or default.
function U.int_opt(opts, key, default, min, where)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= 'number' or math.tointeger(v) == nil then
    U.fail(where, ("option '%s' must be an integer (got %s)"):format(key, tostring(v)))
  end
  v = math.tointeger(v)
  if min and v < min then U.fail(where, ("option '%s' must be >= %d (got %d)"):format(key, min, v)) end
  return v
end

--- number_opt(opts, key, default, where) -> opts[key] (a number) or default.
function U.number_opt(opts, key, default, where)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= 'number' then U.fail(where, ("option '%s' must be a number (got %s)"):format(key, type(v))) end
  return v
end

--- one_of(v, choices, what, where) -> v when it is in the list choices, else raises
-- "where: what must be 'a', 'b' or 'c' (got x)".
function U.one_of(v, choices, what, where)
  for _, c in ipairs(choices) do if v == c then return v end end
  local q = {}
  for i, c in ipairs(choices) do q[i] = ("'%s'"):format(c) end
  local list = #q > 1 and (table.concat(q, ', ', 1, #q - 1) .. ' or ' .. q[#q]) or q[1]
  U.fail(where, ('%s must be %s (got %s)%s'):format(what, list, tostring(v), U.did_you_mean(v, choices)))
end

--- call(where, f, ...) -> f(...); an error of f (a C function) is raised again as
-- "where: message" at the user's line, without the "bad argument #n to 'f'" wrapper.
function U.call(where, f, ...)
  local r = table.pack(pcall(f, ...))
  if not r[1] then
    local msg = U.strip(r[2]):gsub("^bad argument #%d+ to '[^']*' %((.*)%)$", '%1')
    U.fail(where, msg)
  end
  return table.unpack(r, 2, r.n)
end

-- ---- option documentation ----

-- A default as Lua source: 'x', 5, { 1, 2 }, { kind = 'adam', lr = 0.0012 }.
local function show(v)
  if type(v) == 'string' then return ("'%s'"):format(v) end
  if type(v) ~= 'table' then return tostring(v) end
  local parts = {}
  if #v > 0 then
    for _, x in ipairs(v) do parts[#parts + 1] = show(x) end
  else
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. ' = ' .. show(v[k]) end
  end
  return #parts == 0 and '{}' or '{ ' .. table.concat(parts, ', ') .. ' }'
end

--- options_text(defaults, docs) -> one line per option, in the order of docs
-- ({{key, meaning}, ...}): "  key = default  meaning". Keys of defaults that docs lack
-- are listed last as "(undocumented)" so a new option shows up.
function U.options_text(defaults, docs)
  local lines, seen = {}, {}
  local function add(k, text)
    lines[#lines + 1] = ('  %-16s %-28s %s'):format(k, '= ' .. show(defaults[k]), text)
  end
  for _, d in ipairs(docs) do
    seen[d[1]] = true
    add(d[1], d[2])
  end
  local rest = {}
  for k in pairs(defaults) do
    if type(k) == 'string' and k:sub(1, 1) ~= '_' and not seen[k] then rest[#rest + 1] = k end
  end
  table.sort(rest)
  for _, k in ipairs(rest) do add(k, '(undocumented)') end
  return table.concat(lines, '\n')
end

-- ---- types ----

U.is_tensor = tensor.is_tensor

--- is_model(x) -> true for a lotto.nn model.
U.is_model = core_nn.is_model

--- is_dataset(x) -> true for a lotto.data data set.
function U.is_dataset(x)
  return type(x) == 'userdata' and not tensor.is_tensor(x) and (pcall(function() return x:size() end))
end

--- check_model(m, fname, pos): raises "bad argument #pos to 'fname' (lotto.nn model expected)".
function U.check_model(m, fname, pos)
  if not U.is_model(m) then U.raise(("bad argument #%d to '%s' (lotto.nn model expected)"):format(pos or 1, fname)) end
  return m
end

--- check_seed(seed, fname, pos): an integer seed, else "bad argument #pos to 'fname' (...)".
function U.check_seed(seed, fname, pos)
  if math.type(seed) ~= 'integer' then
    U.raise(("bad argument #%d to '%s' (integer seed expected, got %s)"):format(pos, fname, tostring(seed)))
  end
  return seed
end

--- check_flat(model, t, fname, pos, what): t is a flat tensor of the model's values size.
function U.check_flat(model, t, fname, pos, what)
  local n = model:values():numel()
  if not tensor.is_tensor(t) or t:numel() ~= n then
    U.raise(("bad argument #%d to '%s' (%s: a flat tensor of %d values expected)"):format(pos, fname, what, n))
  end
  return t
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(U, {
    fail = 'fail(where, msg): raises "where: msg" at the first line outside the lotto library',
    raise = 'raise(msg): raises msg at the first line outside the lotto library',
    user_error = 'user_error(msg): raises msg (no position, no traceback): a usage error',
    traceback = 'traceback([on]) -> boolean: whether user errors show a traceback (-v, LOTTO_TRACEBACK=1)',
    saved = 'saved(text): what a long run has stored so far, printed with the resume command on Ctrl-C',
    strip = 'strip(msg) -> msg without its leading "file:line: "',
    closest = 'closest(name, names) -> the most similar name (one or two edits, or a prefix) or nil',
    did_you_mean = "did_you_mean(name, names) -> \" (did you mean 'x'?)\" or ''",
    check_options = "check_options(opts, allowed, where) -> opts | {}: unknown keys raise with a suggestion",
    merge = 'merge(defaults, opts, where[, what]) -> defaults overridden by opts; unknown keys raise',
    options_text = 'options_text(defaults, {{key, meaning}}) -> "  key = default  meaning" lines',
    is_int = 'is_int(v[, lo]) -> true for an integral number >= lo',
    int_opt = 'int_opt(opts, key, default, min, where) -> integer option',
    number_opt = 'number_opt(opts, key, default, where) -> number option',
    one_of = 'one_of(v, {choices}, what, where) -> v, or raises naming the choices',
    call = 'call(where, f, ...) -> f(...), its errors raised again as "where: message"',
    is_tensor = 'is_tensor(x) -> boolean',
    is_model = 'is_model(x) -> boolean',
    is_dataset = 'is_dataset(x) -> boolean',
    check_model = "check_model(m, fname, pos) -> m, or raises \"bad argument #pos to 'fname'\"",
    check_seed = 'check_seed(seed, fname, pos) -> seed (an integer)',
    check_flat = 'check_flat(model, t, fname, pos, what) -> t: a flat tensor of the model values size',
  })
  help.set(U, 'lotto.util: argument and option checks shared by the Lua modules (errors name the bad key)')
end

return U
