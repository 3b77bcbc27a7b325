-- lotto.args: the command-line parser of every example and `lotto` subcommand. It owns
-- --help/-h (what the command does, its scales with an estimated time on a 2-core
-- machine, its options with defaults; printed on stdout, exit 0) and -v/--verbose
-- (tracebacks for every error). `--format svg` and `--format=svg` both work; an
-- unknown option is a one-line error with the closest known one.
--
--   local o = require('lotto.args').parse(arg, {
--     usage = 'lotto examples/lenet_imp.lua [options]',
--     about = 'IMP of LeNet-300-100 on MNIST (Frankle & Carbin 2019, Fig. 3 and 4).',
--     scales = { { '(default)', '2 seeds, 10 rounds of 1,000 iterations', '15 min' },  -- estimated; with
--     -- scales_measured = 'time on ..., measured unless marked' that text heads them instead
--                { '--full', '5 seeds, 20 rounds of 50,000 iterations', '3 days' } },
--     options = {
--       { 'full', false, 'paper scale' },                      -- a flag: --full
--       { 'format', 'png', 'plot format', choices = { 'png', 'svg', 'pdf' } },
--       { 'seeds', 2, 'number of seeds', short = 's', integer = true, min = 1 }, -- --seeds 3, -s 3
--     },
--     positional = { { 'rundir', 'a run directory' } },      -- required, in order
--   })
--   -- o.full, o.format, o.seeds, o.rundir; further positional words in o[1], o[2] ...
local U = require 'lotto.util'

local M = {}

local function kind(opt)
  if opt.type then return opt.type end
  local t = type(opt[2])
  if t == 'boolean' then return 'flag' end
  if t == 'number' then return 'number' end
  return 'string'
end

local function metavar(opt)
  if kind(opt) == 'flag' then return '' end
  return ' ' .. (opt.metavar or opt[1]:upper():gsub('-', '_'))
end

local function wrap_left(left, text, width)
  if #left >= width then return '  ' .. left .. '\n' .. (' '):rep(width + 4) .. text end
  return ('  %-' .. width .. 's  %s'):format(left, text)
end

--- help(spec) -> the text --help prints.
function M.help(spec)
  local out = {}
  local function add(s) out[#out + 1] = s end
  add('usage: ' .. (spec.usage or 'lotto <script> [options]'))
  if spec.about then add(''); add((spec.about:gsub('%s+$', ''))) end
  if spec.positional and #spec.positional > 0 then
    add(''); add('arguments:')
    for _, p in ipairs(spec.positional) do add(wrap_left(p[1], p[2] or '', 20)) end
  end
  if spec.scales and #spec.scales > 0 then
    add(''); add(spec.scales_measured and ('scales (' .. spec.scales_measured .. '):')
      or 'scales (estimated time on a 2-core machine):')
    for _, s in ipairs(spec.scales) do add(wrap_left(s[1], ('%s  [%s]'):format(s[2], s[3] or '?'), 12)) end
  end
  add(''); add('options:')
  local opts = {}
  for _, o in ipairs(spec.options or {}) do opts[#opts + 1] = o end
  opts[#opts + 1] = { 'verbose', false, 'show a traceback with every error (also: LOTTO_TRACEBACK=1)', short = 'v' }
  opts[#opts + 1] = { 'help', false, 'show this help and exit', short = 'h' }
  for _, o in ipairs(opts) do
    local left = (o.short and ('-' .. o.short .. ', ') or '') .. '--' .. o[1] .. metavar(o)
    local text = o[3] or ''
    if o.choices then text = text .. ' (' .. table.concat(o.choices, ', ') .. ')' end
    if kind(o) ~= 'flag' and o[2] ~= nil then text = text .. (' [default: %s]'):format(tostring(o[2])) end
    add(wrap_left(left, text, 22))
  end
  if spec.epilog then add(''); add((spec.epilog:gsub('%s+$', ''))) end
  return table.concat(out, '\n') .. '\n'
end

local function prog(spec)
  return spec.prog or (spec.usage or ''):match('^lotto%s+(%S+)') or 'lotto'
end

--- fail(spec, msg): a one-line usage error "examples/x.lua: msg (see --help)".
function M.fail(spec, msg) U.user_error(('%s: %s (see --help)'):format(prog(spec), msg)) end

local function convert(spec, opt, v)
  if kind(opt) == 'number' then
    local n = tonumber(v)
    if not n then M.fail(spec, ("option '--%s' needs a number (got '%s')"):format(opt[1], v)) end
    n = math.tointeger(n) or n
    if opt.integer and math.type(n) ~= 'integer' then
      M.fail(spec, ("option '--%s' needs a whole number (got '%s')"):format(opt[1], v))
    end
    if opt.min and n < opt.min then M.fail(spec, ("option '--%s' must be at least %s (got '%s')"):format(opt[1], opt.min, v)) end
    return n
  end
  if opt.choices then
    local ok = false
    for _, c in ipairs(opt.choices) do if c == v then ok = true end end
    if not ok then
      M.fail(spec, ("option '--%s' must be one of %s (got '%s')%s"):format(opt[1], table.concat(opt.choices, ', '), v,
        U.did_you_mean(v, opt.choices)))
    end
  end
  return v
end

--- parse(argv, spec) -> a table of option values (defaults filled in) and positional
-- words. argv: the script's `arg` table (arg[1..n] are read). --help prints M.help(spec)
-- and exits 0; -v/--verbose turns tracebacks on.
function M.parse(argv, spec)
  spec = spec or {}
  local byname, byshort, names = {}, {}, {}
  for _, o in ipairs(spec.options or {}) do
    byname[o[1]] = o
    names[#names + 1] = '--' .. o[1]
    if o.short then byshort[o.short] = o end
  end
  local out, words = {}, {}
  for _, o in ipairs(spec.options or {}) do out[o[1]] = o[2] end
  local i, n = 1, #(argv or {})
  local only_words = false
  while i <= n do
    local a = tostring(argv[i])
    if only_words or a == '-' or a:sub(1, 1) ~= '-' then
      words[#words + 1] = a
    elseif a == '--' then
      only_words = true
    elseif a == '-h' or a == '--help' then
      io.stdout:write(M.help(spec))
      io.stdout:flush()
      os.exit(0)
    elseif a == '-v' or a == '--verbose' then
      U.traceback(true)
    else
      local name, value = a:match('^%-%-([^=]+)=(.*)$')
      name = name or a:match('^%-%-(.+)$')
      local opt = name and byname[name]
      if not opt and name and name:sub(1, 3) == 'no-' and byname[name:sub(4)] and kind(byname[name:sub(4)]) == 'flag' then
        opt, value = byname[name:sub(4)], false
      end
      if not name and #a == 2 then opt = byshort[a:sub(2)] end
      if not opt then
        M.fail(spec, ("unknown option '%s'%s"):format(a, U.did_you_mean(name and ('--' .. name) or a, names)))
      end
      if kind(opt) == 'flag' then
        if value == false then out[opt[1]] = false
        elseif value ~= nil then M.fail(spec, ("option '--%s' takes no value"):format(opt[1]))
        else out[opt[1]] = true end
      else
        if value == nil then
          i = i + 1
          if i > n then M.fail(spec, ("option '--%s' needs a value"):format(opt[1])) end
          value = tostring(argv[i])
        end
        out[opt[1]] = convert(spec, opt, value)
      end
    end
    i = i + 1
  end
  local pos = spec.positional or {}
  for j, p in ipairs(pos) do
    if words[j] == nil and not p.optional then M.fail(spec, ('missing argument <%s>'):format(p[1])) end
    if words[j] ~= nil then out[p[1]] = words[j] end
  end
  if #words > #pos and not spec.more then
    M.fail(spec, ("unexpected argument '%s'"):format(words[#pos + 1]))
  end
  for j = #pos + 1, #words do out[j - #pos] = words[j] end
  return out
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    parse = 'parse(arg, {usage =, about =, scales =, options = {{name, default, text, short =, choices =, integer =, min =}}, positional =}) -> values',
    help = 'help(spec) -> the text --help prints',
    fail = 'fail(spec, msg): a one-line usage error naming the command',
  })
  help.set(M, 'lotto.args: the command-line parser of the examples and subcommands (--help, -v, --x=v)')
end

return M
