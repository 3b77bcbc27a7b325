-- check.lua: the tiny assertion helper shared by the Lua tests (tests/lua/test_*.lua).
-- Failures are counted and printed with their line, the run goes on; T.report() at the
-- end prints a summary and exits 1 if anything failed. T.skip(why) exits 77 (ctest: skipped).
--
--   package.path = os.getenv('LOTTO_SOURCE_DIR')..'/tests/lua/?.lua;'..package.path
--   local T = require 'check'
--   T.check_eq(t:shape(), {3, 4})
--   T.check_near(t:sum(), 6.5, 1e-6)
--   T.checkerror(function() t:get(9, 1) end, 'out of range')
--   T.report()
local M = { passed = 0, failed = 0 }

-- The first stack frame outside this file: the test line that called a check.
local function where()
  local me = debug.getinfo(1, 'S').source
  for level = 2, 50 do
    local info = debug.getinfo(level, 'Sl')
    if not info then break end
    if info.source ~= me and info.what ~= 'C' then return info.short_src .. ':' .. (info.currentline or 0) end
  end
  return '?'
end

local function fail(msg)
  M.failed = M.failed + 1
  io.stderr:write(string.format('FAIL %s: %s\n', where(), msg))
  return false
end

local function pass()
  M.passed = M.passed + 1
  return true
end

-- A plain value for comparison: tensors (anything with :totable()) become nested tables.
local function plain(x)
  if type(x) == 'userdata' then
    local ok, f = pcall(function() return x.totable end)
    if ok and type(f) == 'function' then return f(x) end
  end
  return x
end

local function show(x, depth)
  depth = depth or 0
  if type(x) == 'string' then return string.format('%q', x) end
  if type(x) ~= 'table' then return tostring(x) end
  if depth > 3 then return '{...}' end
  local parts, n = {}, 0
  for k, v in pairs(x) do
    n = n + 1
    if n > 12 then parts[#parts + 1] = '...'; break end
    local key = math.type(k) == 'integer' and '' or (tostring(k) .. '=')
    parts[#parts + 1] = key .. show(v, depth + 1)
  end
  return '{' .. table.concat(parts, ', ') .. '}'
end

-- Deep comparison; tol nil means exact. Returns ok, path of the first difference.
local function same(a, b, tol, path)
  if type(a) == 'number' and type(b) == 'number' then
    if tol then
      if a ~= a and b ~= b then return true end -- both NaN
      return math.abs(a - b) <= tol, path
    end
    return a == b, path
  end
  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b, path end
  for k, v in pairs(a) do
    local ok, p = same(v, b[k], tol, path .. '[' .. tostring(k) .. ']')
    if not ok then return false, p end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. '[' .. tostring(k) .. ']' end
  end
  return true
end

-- check(cond, msg): passes when cond is truthy.
function M.check(cond, msg)
  if cond then return pass() end
  return fail(msg or 'check failed')
end

-- check_eq(got, want[, msg]): equal numbers/strings, or deep-equal tables/tensors.
function M.check_eq(a, b, msg)
  local pa, pb = plain(a), plain(b)
  local ok, path = same(pa, pb, nil, '')
  if ok then return pass() end
  return fail(string.format('%sgot %s, want %s%s', msg and (msg .. ': ') or '', show(pa), show(pb),
    path and path ~= '' and (' (first difference at ' .. path .. ')') or ''))
end

-- check_near(got, want, tol[, msg]): numbers, tables or tensors within tol elementwise.
function M.check_near(a, b, tol, msg)
  tol = tol or 1e-6
  local pa, pb = plain(a), plain(b)
  local ok, path = same(pa, pb, tol, '')
  if ok then return pass() end
  return fail(string.format('%sgot %s, want %s within %g%s', msg and (msg .. ': ') or '', show(pa), show(pb), tol,
    path and path ~= '' and (' (first difference at ' .. path .. ')') or ''))
end

-- checkerror(fn, pattern, ...): fn(...) must raise an error whose message matches the
-- Lua pattern (or contains it as plain text). Returns the message.
function M.checkerror(fn, pattern, ...)
  local ok, err = pcall(fn, ...)
  if ok then
    fail(string.format('expected an error matching %q, but the call succeeded', pattern or ''))
    return nil
  end
  local msg = tostring(err)
  if pattern then
    local found = msg:find(pattern, 1, true)
    if not found then
      local pok, pfound = pcall(string.find, msg, pattern)
      found = pok and pfound
    end
    if not found then
      fail(string.format('error %q does not match %q', msg, pattern))
      return msg
    end
  end
  pass()
  return msg
end

-- skip(why): the test cannot run here (missing data, no gnuplot); ctest reports it skipped.
function M.skip(why)
  io.stdout:write('SKIP: ' .. tostring(why) .. '\n')
  os.exit(77)
end

-- report(): prints the summary; exits 1 if any check failed.
function M.report()
  local name = arg and arg[0] or where()
  io.stdout:write(string.format('%s: %d passed, %d failed\n', name, M.passed, M.failed))
  if M.failed > 0 then os.exit(1) end
  return true
end

return M
