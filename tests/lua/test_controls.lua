-- test_controls.lua: an IMP control is one entry of lotto.ticket.controls. A toy control
-- registered through the public table runs in a tiny IMP (its context holds the
-- hand-computed seed, the ticket's mask and θ0), its training matches a hand-made run
-- bit for bit, and the report, the metrics, the plots and the option check all know it.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, ticket, fs = lotto.tensor, lotto.nn, lotto.data, lotto.ticket, lotto.fs
local controls = require 'lotto.ticket.controls'

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_controls'
assert(fs.remove_tree(ROOT))

local function mlp()
  return nn.model(nn.sequential { nn.linear(4, 12), nn.relu(), nn.linear(12, 2) }, { input = { 4 } })
end

local function blobs(n, seed)
  local x = tensor.randn({ n, 4 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, x:get(i, 1) + x:get(i, 2) > 0 and 1 or 0) end
  return data.from_tensors(x, y, { classes = 2 })
end
local ds = { train = blobs(200, 1), val = blobs(60, 2), test = blobs(60, 3) }

T.check(controls == ticket.controls, 'lotto.ticket.controls is the module table')
T.check_eq(controls.names(), { 'reinit', 'permuted', 'random', 'sign' }, 'the built-in controls, by seed offset')

-- ---- the toy control: one table entry -----------------------------------------------
local seen = {}
ticket.controls.flipped = { seed_offset = 7, label = 'flipped signs',
  apply = function(model, ctx)
    seen[#seen + 1] = { seed = ctx.seed, round = ctx.round, start = ctx.start, reinit_seed = ctx.seed_of('reinit'),
                        values = model:state(), masks = model:masks():clone(), state = ctx.state, mask = ctx.mask }
    local v = model:values()
    v:copy(v:mul(-1))
  end }
T.check_eq(controls.names(), { 'reinit', 'permuted', 'random', 'sign', 'flipped' }, 'the toy joins the list')

local cfg = { root = ROOT, name = 'toy', model = function() return mlp() end, data = ds, seeds = { 3 }, rounds = 1,
  optimizer = { kind = 'adam', lr = 1e-2 }, batch = 20, iterations = 30, eval_every = 10, eval_batch = 60,
  prune = { rate = 0.5, output_rate = 0.5 }, controls = { 'flipped', 'reinit' }, verbose = false, plots = false,
  progress = false }
local res, run = ticket.imp(cfg)

T.check_eq(#seen, 1, 'apply ran once (one replicate, one pruned round)')
local c = seen[1]
-- seed 3, round 1, offset 7: 3 * 100003 + 1 * 101 + 7
T.check_eq(c.seed, 300117, "the control's own seed")
T.check_eq(c.reinit_seed, 300111, "seed_of('reinit'): 3 * 100003 + 101 + 1")
T.check_eq({ c.round, c.start }, { 1, 0 }, 'round and start iteration')
local tk = assert(ticket.load(run.dir, 3, 1))
T.check_eq(c.mask, tk.mask, "ctx.mask is the round's mask")
T.check_eq(c.masks, tk.mask, 'the model holds the mask when apply runs')
T.check_eq(c.state, tk.init, 'ctx.state is θ0 (rewind = 0)')
T.check_eq(c.values, tk.init:mul(tk.mask), 'the model holds the rewound ticket when apply runs')

-- the control trained exactly as a hand-made run from -θ0 ⊙ mask
local m = mlp()
m:masks():copy(tk.mask)
m:load_state(tk.init)
m:apply_mask()
local v = m:values()
v:copy(v:mul(-1))
local h = ticket.train(m, ds, { optimizer = cfg.optimizer, batch = 20, iterations = 30, eval_every = 10, eval_batch = 60,
  progress = false }, { data_seed = 3, start = 0 })
local s = run:load_summary(3, 1)
T.check(s.runs.flipped ~= nil, 'the summary has the control')
T.check_eq(s.runs.flipped.final_test_loss, h.final.test_loss, 'the control trained as by hand, bit for bit')
T.check(s.runs.flipped.final_test_loss ~= s.runs.ticket.final_test_loss, 'and not as the ticket')

-- results, metrics, report and plots know it
T.check(res.aggregate[2].methods.flipped and res.aggregate[2].methods.flipped.final_test_loss.n == 1, 'aggregated')
local methods = {}
for _, r in ipairs(run:load_metrics(3, 1)) do methods[r.method] = (methods[r.method] or 0) + 1 end
T.check_eq(methods, { ticket = 3, flipped = 3, reinit = 3 }, 'metrics of every method')
local header = ticket.report(res):match('^[^\n]*')
T.check(header:find('ticket%s+reinit%s+flipped') ~= nil, 'report columns in seed-offset order: ' .. header)

local plot = require 'lotto.plot'
plot.accuracy_vs_sparsity(run, { out = ROOT .. '/acc', format = 'dumb', print = false }) -- .dat even without gnuplot
local f = assert(io.open(ROOT .. '/acc.dat'))
local dat = f:read('a')
f:close()
local labels = {}
for name in dat:gmatch('# series %d+: ([^\n]*)') do labels[#labels + 1] = name end
T.check_eq(labels, { 'winning ticket', 'random reinit', 'flipped signs' }, 'plot legend from the table, in order')

-- ---- a bad entry or name is refused before anything runs -------------------------------
local function try(entry, pattern)
  ticket.controls.bad = entry
  local o = {}
  for k, val in pairs(cfg) do o[k] = val end
  o.name, o.controls = 'bad', { 'bad' }
  T.checkerror(function() ticket.imp(o) end, pattern)
  T.check(not fs.exists(ROOT .. '/bad'), 'no run directory made for ' .. pattern)
end
try({ seed_offset = 4, apply = function() end }, 'other than 4')
try({ seed_offset = 7, apply = function() end }, "seed_offset 7 is the one of 'flipped'")
try({ seed_offset = 8 }, 'apply must be a function')
try({ seed_offset = 8, apply = function() end, label = 3 }, 'label must be a string')
ticket.controls.bad = nil
local o = {}
for k, val in pairs(cfg) do o[k] = val end
o.name, o.controls = 'bad', { 'fliped' }
local msg = T.checkerror(function() ticket.imp(o) end, "unknown control 'fliped' (did you mean 'flipped'?)")
T.check(msg and msg:find('reinit, permuted, random, sign, flipped', 1, true), 'the message lists the controls')
-- a control whose apply returns something that is not a start iteration
ticket.controls.bad = { seed_offset = 9, apply = function() return 'soon' end }
o.name, o.controls = 'badstart', { 'bad' }
T.checkerror(function() ticket.imp(o) end, "control 'bad': apply returned soon")
ticket.controls.bad, ticket.controls.flipped = nil, nil
T.checkerror(function() ticket.controls.names = { seed_offset = 10, apply = function() end } end, "'names' is reserved")
T.check_eq(controls.names(), { 'reinit', 'permuted', 'random', 'sign' }, 'removing an entry removes the control')

assert(fs.remove_tree(ROOT))
T.report()
