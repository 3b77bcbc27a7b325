-- test_schema.lua: the files of a run, as docs/reference.md describes them, hold for a
-- small real run (the sum-of-two toy, 2 seeds, 2 rounds, a control): config.json,
-- results.json (replicates keyed by seed, each an array ordered by round; aggregate an
-- array of rounds with mean/std/min/max/n per method and metric), summary.json and
-- metrics.jsonl (every row names its seed, round, method and density), the tidy CSV of
-- lotto.ticket.report, and the one-seed table without "± 0".
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local fs, json, ticket, D, nn = lotto.fs, lotto.json, lotto.ticket, lotto.data, lotto.nn

local root = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_schema'
assert(fs.remove_tree(root))

local function net()
  return nn.model(nn.sequential { nn.linear(2, 16, { bias = false }), nn.linear(16, 1, { bias = false }) }, { input = { 2 } })
end
local data = { train = D.sum_of_two { n = 64, seed = 1 }, val = D.sum_of_two { n = 16, seed = 2 },
               test = D.sum_of_two { n = 16, seed = 3 } }
local results, run = ticket.imp { name = 'schema', root = root, model = net, data = data, loss = 'mse',
  optimizer = { kind = 'sgd', lr = 0.05 }, batch = 16, iterations = 20, eval_every = 10, seeds = { 1, 2 },
  rounds = 2, prune = { rate = 0.5 }, controls = { 'reinit' }, plots = false, verbose = false, progress = false }

local function is_num(x) return type(x) == 'number' end

-- config.json: the options of the run
local cfg = assert(json.read(run.dir .. '/config.json'))
T.check_eq({ cfg.name, cfg.rounds, cfg.iterations, cfg.batch }, { 'schema', 2, 20, 16 }, 'config.json holds the options')

-- results.json
local r = assert(json.read(run.dir .. '/results.json'))
T.check_eq(r.name, 'schema', 'results.name')
T.check(type(r.config) == 'table', 'results.config')
T.check_eq(#r.aggregate, 3, 'aggregate: rounds 0, 1, 2')
for i, a in ipairs(r.aggregate) do
  T.check_eq(a.round, i - 1, 'aggregate rows ordered by round')
  T.check(is_num(a.remaining_pct) and is_num(a.density) and a.replicates == 2, 'round row: remaining_pct, density, replicates')
  local st = a.methods.ticket and a.methods.ticket.final_test_loss
  T.check(st and is_num(st.mean) and is_num(st.std) and is_num(st.min) and is_num(st.max) and st.n == 2,
    'method statistics: mean, std, min, max, n')
  if i > 1 then T.check(a.methods.reinit ~= nil, 'the control in every pruned round') end
end
T.check_near(r.aggregate[2].density, 0.5, 0.02, 'round 1 at half the weights')
for _, seed in ipairs { '1', '2' } do
  local list = r.replicates[seed]
  T.check(type(list) == 'table' and #list == 3, 'replicates keyed by seed, an array of rounds: ' .. seed)
  for k, s in ipairs(list or {}) do
    T.check_eq(s.round, k - 1, 'replicate rounds in order')
    T.check(is_num(s.density) and type(s.runs) == 'table' and type(s.layers) == 'table', 'round summary fields')
  end
end

-- summary.json and metrics.jsonl of a round
local s = assert(json.read(run:round_path(2, 1) .. '/summary.json'))
T.check_eq(s.round, 1, 'summary.round')
T.check(is_num(s.runs.ticket.final_test_loss) and is_num(s.runs.reinit.final_test_loss), 'summary.runs per method')
local rows, methods = 0, {}
for line in io.lines(run:round_path(2, 1) .. '/metrics.jsonl') do
  local rec = assert(json.decode(line))
  rows = rows + 1
  methods[rec.method] = true
  T.check(rec.seed == 2 and rec.round == 1 and is_num(rec.density) and math.abs(rec.density - s.density) < 1e-9,
    'metrics row names seed, round and density: ' .. line)
  T.check(math.type(rec.iter) == 'integer' and is_num(rec.test_loss), 'metrics row: iter, test_loss')
end
T.check(rows >= 4 and methods.ticket and methods.reinit, 'metrics rows of the ticket and the control')
local r0 = assert(io.open(run:round_path(1, 0) .. '/metrics.jsonl')):read('l')
T.check_eq(json.decode(r0).density, 1, 'round 0 rows: density 1')

-- report: CSV and one seed
local csv = ticket.report(results, { format = 'csv', metric = 'final_test_loss' })
local lines = {}
for l in csv:gmatch('[^\n]+') do lines[#lines + 1] = l end
T.check_eq(lines[1], 'round,remaining_pct,method,metric,mean,std,min,max,n', 'CSV header')
T.check_eq(#lines, 1 + 1 + 2 + 2, 'one row per round and method (round 0: the ticket)')
T.check(lines[3]:match('^1,[%d.]+,reinit,final_test_loss,') ~= nil, 'CSV row: ' .. tostring(lines[3]))
local one = { aggregate = { { round = 0, remaining_pct = 100,
  methods = { ticket = { early_stop_test_acc = { mean = 0.9, std = 0, min = 0.9, max = 0.9, n = 1 } } } } } }
local txt = ticket.report(one)
T.check(txt:find('90.00', 1, true) and not txt:find('±', 1, true), 'one seed: no ± 0.00: ' .. txt)

-- an uninitialised (all-zero) model is refused by train.fit, with the fix in the message
T.checkerror(function()
  lotto.train.fit(net(), data, { optimizer = { kind = 'sgd', lr = 0.1 }, iterations = 1, progress = false })
end, 'all zeros %(never initialised%): call model:init')

-- lotto.ticket.model: a run made with a model function cannot be rebuilt by name
local m, merr = ticket.model(run.dir, 1, 1)
T.check(m == nil and tostring(merr):find('model function', 1, true), 'ticket.model names why: ' .. tostring(merr))
local cls = { train = lotto.data.from_tensors(lotto.tensor.randn({ 32, 1, 2, 2 }, 1), lotto.tensor.zeros({ 32 }):add(1), { classes = 2 }) }
-- a zoo model is rebuilt with its mask and the stored weights
local r2, run2 = ticket.imp { name = 'schema_zoo', root = root, model = 'lenet300', model_opts = { input = { 1, 2, 2 }, classes = 2 },
  data = cls, loss = 'xent', optimizer = { kind = 'sgd', lr = 0.05 }, batch = 16, iterations = 10, eval_every = 10,
  rounds = 1, prune = { rate = 0.5 }, controls = {}, plots = false, verbose = false, progress = false }
local zm, zt = ticket.model(run2.dir, 1, 1)
T.check(zm ~= nil, 'ticket.model of a zoo run: ' .. tostring(zt))
if zm then
  T.check_near(zm:density(), zt.summary.density, 1e-12, 'the mask is set')
  T.check_near((zm:values() - zt.final):abs():max(), 0, 0, 'the trained weights are loaded')
end

assert(fs.remove_tree(root))
T.report()
