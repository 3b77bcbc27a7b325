-- lotto.ticket.controls: the baselines IMP trains beside each ticket, one entry each.
-- The driver (option controls = {...}), its error messages, lotto.ticket.report and the
-- plots all read this table, so a new control is one entry:
--
--   local controls = require 'lotto.ticket.controls'     -- also lotto.ticket.controls
--   controls.flipped = { seed_offset = 6, label = 'flipped signs',
--     apply = function(model, ctx) local v = model:values(); v:copy(v:mul(-1)) end }
--
-- seed_offset: a small integer of its own (its seeds are seed * 100003 + round * 101 +
-- offset; 4 is the transfer's); it also orders the controls in tables and plots.
-- label: the legend in plots. apply(model, ctx) -> start iteration (nil: ctx.start).
-- When apply runs the model holds the ticket: its mask and the rewound weights
-- ctx.state (θk, or θ0 without late resetting). ctx = {state, mask, seed (this
-- control's), seed_of = function(name) -> the seed of another purpose, init (the
-- initialiser's name), cfg (the imp options), start (the rewind iteration), round,
-- replicate}. Return 0 when the network is a fresh init (an iteration-0 network).
local ops = require 'lotto.ticket.ops'
local U = require 'lotto.util'

local C = {}

C.reinit = { seed_offset = 1, label = 'random reinit',
  apply = function(model, ctx)
    ops.reinit(model, ctx.seed, ctx.init)
    return 0 -- a fresh init is an iteration-0 network
  end }

C.permuted = { seed_offset = 2, label = 'permuted mask',
  apply = function(model, ctx)
    ops.permute(model, ctx.seed)
    ops.rewind(model, ctx.state)
    if ctx.cfg.permuted_reinit then
      ops.reinit(model, ctx.seed_of('reinit'), ctx.init)
      return 0
    end
  end }

C.random = { seed_offset = 3, label = 'random pruning',
  apply = function(model, ctx)
    ops.random_mask(model, ctx.seed)
    ops.rewind(model, ctx.state)
  end }

-- Fresh magnitudes with the signs of the ticket's weights (Zhou et al. 2019).
C.sign = { seed_offset = 5, label = 'sign-preserving reinit',
  apply = function(model, ctx)
    ops.sign_preserving_reinit(model, ctx.state, ctx.seed, ctx.init)
    return 0
  end }

-- ---- reading the table (functions live in the metatable: pairs(C) lists controls only) ----

local F = {}
F.TRANSFER_OFFSET = 4 -- the seed offset of a transfer's fresh layers (not a control)

--- names() -> the controls, ordered by seed_offset.
function F.names()
  local out = {}
  for k, v in pairs(C) do
    if type(k) == 'string' and type(v) == 'table' then out[#out + 1] = k end
  end
  table.sort(out, function(a, b)
    local x, y = C[a].seed_offset, C[b].seed_offset
    if x ~= y and type(x) == 'number' and type(y) == 'number' then return x < y end
    return a < b
  end)
  return out
end

--- check(name) -> the entry of control `name`, checked; nil, message when it is unknown
-- or malformed (the message names the known controls, or the bad field).
function F.check(name)
  local e = rawget(C, name)
  if type(name) ~= 'string' or type(e) ~= 'table' then
    local names = F.names()
    local hint = ''
    for _, n in ipairs(names) do if n == tostring(name):lower() then hint = (" (did you mean '%s'?)"):format(n) end end
    if hint == '' then hint = U.did_you_mean(name, names) end
    return nil, ("unknown control '%s'%s (%s)"):format(tostring(name), hint, table.concat(names, ', '))
  end
  local off = e.seed_offset
  if math.type(off) ~= 'integer' or off < 0 or off == F.TRANSFER_OFFSET then
    return nil, ("control '%s': seed_offset must be a non-negative integer other than %d (got %s)"):format(name,
      F.TRANSFER_OFFSET, tostring(off))
  end
  for _, other in ipairs(F.names()) do
    if other ~= name and C[other].seed_offset == off then
      return nil, ("control '%s': seed_offset %d is the one of '%s'"):format(name, off, other)
    end
  end
  if type(e.apply) ~= 'function' then
    return nil, ("control '%s': apply must be a function(model, ctx)"):format(name)
  end
  if e.label ~= nil and type(e.label) ~= 'string' then
    return nil, ("control '%s': label must be a string"):format(name)
  end
  return e
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(F, {
    names = 'controls.names() -> the control names, ordered by seed_offset',
    check = 'controls.check(name) -> entry | nil, msg: a known, well-formed control',
  })
end

-- A new entry may not hide the functions above.
local function newindex(t, k, v)
  if F[k] ~= nil then U.raise(("lotto.ticket.controls: '%s' is reserved, not a control name"):format(tostring(k))) end
  rawset(t, k, v)
end

return setmetatable(C, { __index = F, __newindex = newindex })
