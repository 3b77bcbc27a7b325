-- lotto.ticket.config: the options of lotto.ticket.imp{...} with their defaults, their
-- checks (every error names the option and what it must be), and what they build: the
-- model and the data set of a run.
local controls = require 'lotto.ticket.controls'
local data = require 'lotto.data'
local json = require 'lotto.json'
local models = require 'lotto.models'
local nn = require 'lotto.nn'
local presets = require 'lotto.presets'
local U = require 'lotto.util'

local M = {}

M.resets = { 'weights', 'lr', 'finetune' }

-- Every option of imp{...} and one_shot{...}, with its default. A script passes
-- only what it changes.
M.defaults = {
  preset = false,           -- a lotto.presets row (Frankle & Carbin: lenet, conv2, conv4, conv6, resnet20,
                            -- vgg19) under the other options given: each given key wins
  name = 'imp',             -- results go to <root>/<name>
  description = false,      -- a sentence for the plot titles (the run name goes in small print)
  root = 'runs',
  model = 'lenet300',       -- a lotto.models name, or function(cfg) -> built model
  model_opts = {},          -- passed to the zoo constructor (input, classes, width ...)
  data = 'mnist',           -- 'mnist' | 'fashion_mnist' | 'cifar10', a {train=,val=,test=} table, or function(cfg)
  data_opts = { val = 5000 },
  init = 'glorot_normal',   -- initialiser of round 0 and of the reinit control
  optimizer = { kind = 'adam', lr = 1.2e-3 }, -- lotto.optim.make options
  schedule = false,         -- lotto.optim.schedule options, or false for a constant rate
  loss = false,             -- 'xent' | 'mse'; false picks from the data set
  batch = 60,
  iterations = 5000,        -- training iterations per round (epochs = n overrides)
  epochs = false,
  eval_every = 500,
  eval_batch = 1000,
  seeds = { 1 },            -- one replicate per seed: init, data order and controls derive from it
  rounds = 5,               -- pruning rounds after the dense round 0
  target_density = false,   -- stop once the ticket's density is at or below this
  prune = { rate = 0.2, output_rate = 0.1 }, -- lotto.prune.magnitude options, or function(model, round)
  rewind = 0,               -- iteration to rewind to: 0 resets to θ0 (LTH), k > 0 is late resetting to θk
  reset = 'weights',        -- what a pruned round starts from: 'weights' (rewind the survivors to θk),
                            -- 'lr' (learning-rate rewinding, Renda et al. 2020: keep the trained weights,
                            -- replay the schedule from iteration k) or 'finetune' (keep the trained
                            -- weights, train the same iterations at the schedule's final rate)
  controls = { 'reinit' },  -- names in lotto.ticket.controls (reinit, permuted, random, sign, ...) trained beside each ticket
  permuted_reinit = false,  -- the permuted control also gets a fresh init
  source = false,           -- transfer: {run = dir, weights = 'init'|'rewind'|'fresh', reinit = {layers}}
  augment = false,          -- true: random crop (4 px) and flip of training images; or {crop =, flip =}
  bn_l1 = false,            -- L1 penalty on batchnorm scales (network slimming); 1e-4 by default
                            -- when earlybird.method is 'channel'
  earlybird = false,        -- {ratio =, window =, threshold =, every =}: rounds >= 1 stop once their
                            -- masks settle (lotto.earlybird); every sets the observation interval
  restart = false,          -- true: delete an existing run of this name first
  plots = true,             -- draw the run's plots at the end
  progress = 'auto',        -- 'auto': a bar on a terminal, a plain line every LOTTO_PROGRESS_SECONDS (30) off one; true: bar; false: none
  verbose = true,           -- one line per round
  threads = false,          -- OpenBLAS threads (false: leave as is)
  -- Keys that may change when a run is resumed: they decide where to stop or how to
  -- show progress, not what a completed round holds.
  _volatile = { 'restart', 'plots', 'progress', 'verbose', 'threads', 'root', 'rounds', 'target_density', 'seeds',
                'description' },
}

-- What each option means, in the order help(lotto.ticket.imp) and docs/reference.md
-- list them (tests/lua/test_ticket_docs.lua checks that every default is here).
M.docs = {
  { 'name', 'results go to <root>/<name> (may contain /)' },
  { 'root', 'directory of the run store' },
  { 'description', 'false, or a sentence that titles the plots (the run name goes in small print)' },
  { 'model', "a lotto.models name ('lenet300', 'conv2', 'resnet20' ...) or function(cfg) -> model" },
  { 'model_opts', 'options of the zoo constructor (input, classes, width ...)' },
  { 'data', "'mnist' | 'fashion_mnist' | 'cifar10', a {train =, val =, test =} table, or function(cfg)" },
  { 'data_opts', 'options of the data set loader (val = rows held out for early stopping, normalize)' },
  { 'init', 'initialiser of round 0 and of the reinit control (glorot_normal, kaiming_normal ...)' },
  { 'optimizer', "lotto.optim.make options: {kind = 'sgd'|'adam'|'adamw', lr =, momentum =, weight_decay = ...}" },
  { 'schedule', 'lotto.optim.schedule options (e.g. warmup, step decay), or false for a constant rate' },
  { 'loss', "'xent' | 'mse'; false picks from the data set (classes -> xent)" },
  { 'batch', 'batch size' },
  { 'iterations', 'training iterations per round (ignored when epochs is set)' },
  { 'epochs', 'false, or epochs per round instead of iterations' },
  { 'eval_every', 'iterations between evaluations (val and test); early stopping = min val loss' },
  { 'eval_batch', 'batch size of evaluations' },
  { 'seeds', 'one replicate per seed: init, data order and controls derive from it (may grow on resume)' },
  { 'rounds', 'pruning rounds after the dense round 0 (may grow on resume)' },
  { 'target_density', 'false, or stop once the ticket density is at or below this (may change on resume)' },
  { 'prune', 'lotto.prune.magnitude options {rate =, output_rate =, rates =, scope =}, or function(model, round)' },
  { 'rewind', 'iteration to rewind survivors to: 0 resets to θ0 (LTH); k > 0 is late resetting to θk' },
  { 'controls', 'baselines trained beside each ticket: names in lotto.ticket.controls (reinit, permuted, random, sign)' },
  { 'permuted_reinit', 'the permuted control also gets a fresh init (else it keeps θ0)' },
  { 'source', "transfer: {run = 'runs/<name>', weights = 'init'|'rewind'|'fresh', reinit = {layers}}: take each round's mask from a stored run" },
  { 'earlybird', 'false, or {ratio =, window =, threshold =, every =}: pruned rounds stop once their masks settle' },
  { 'restart', 'true: delete an existing run of this name first (else a killed run resumes)' },
  { 'plots', 'draw the run plots at the end' },
  { 'progress', "'auto': a bar on a terminal, a plain line every LOTTO_PROGRESS_SECONDS (30) off one; true; false" },
  { 'verbose', 'one line per round' },
  { 'threads', 'OpenBLAS threads (false: leave as is)' },
}

--- describe() -> the options of imp{...} with defaults and meanings, and the keys that may
-- change when a run resumes.
function M.describe()
  return U.options_text(M.defaults, M.docs) .. '\n'
    .. 'Keys that may change when a run resumes (they decide where to stop or how to report, not\n'
    .. 'what a finished round holds): ' .. table.concat(M.defaults._volatile, ', ') .. '.\n'
    .. 'So a finished run grows by rerunning it with more seeds or more rounds; any other change\n'
    .. 'is refused unless restart = true.'
end

local function bad(msg) U.fail('lotto.ticket', msg) end

local function is_int(v, lo) return math.type(v) == 'integer' and v >= (lo or 0) end

-- Checks every option; errors name the option and what it must be.
local function validate(cfg)
  local function need(ok, key, what)
    if not ok then bad(("option '%s' must be %s (got %s)"):format(key, what, tostring(cfg[key]))) end
  end
  need(type(cfg.name) == 'string' and cfg.name ~= '', 'name', 'a non-empty string')
  need(type(cfg.model) == 'string' or type(cfg.model) == 'function', 'model', 'a lotto.models name or a function')
  if type(cfg.model) == 'string' and not models[cfg.model] then
    bad(("unknown model '%s'%s (%s)"):format(cfg.model, U.did_you_mean(cfg.model, models.names()),
      table.concat(models.names(), ', ')))
  end
  local dt = type(cfg.data)
  need(dt == 'string' or dt == 'function' or (dt == 'table' and cfg.data.train ~= nil), 'data',
    "a data set name, a {train =, val =, test =} table or a function")
  need(type(cfg.optimizer) == 'table', 'optimizer', "a table such as {kind = 'adam', lr = 1.2e-3}")
  need(is_int(cfg.batch, 1), 'batch', 'a positive integer')
  need(cfg.epochs == false or is_int(cfg.epochs, 1), 'epochs', 'false or a positive integer')
  need(is_int(cfg.iterations, 1), 'iterations', 'a positive integer')
  need(is_int(cfg.eval_every, 1), 'eval_every', 'a positive integer')
  need(is_int(cfg.rounds, 0), 'rounds', 'a non-negative integer')
  need(is_int(cfg.rewind, 0), 'rewind', 'a non-negative integer (an iteration)')
  U.one_of(cfg.reset, M.resets, "option 'reset'", 'lotto.ticket')
  if not cfg.epochs and cfg.rewind >= cfg.iterations then
    bad(("option 'rewind' (%d) must be below 'iterations' (%d)"):format(cfg.rewind, cfg.iterations))
  end
  local td = cfg.target_density
  need(td == false or (type(td) == 'number' and td > 0 and td <= 1), 'target_density', 'false or a number in (0, 1]')
  need(type(cfg.prune) == 'table' or type(cfg.prune) == 'function', 'prune', 'a lotto.prune.magnitude options table or a function(model, round)')
  need(type(cfg.seeds) == 'table' and #cfg.seeds > 0, 'seeds', 'a non-empty list of integers')
  for i, s in ipairs(cfg.seeds) do
    if not is_int(s, 0) then bad(("option 'seeds'[%d] must be a non-negative integer (got %s)"):format(i, tostring(s))) end
  end
  need(type(cfg.controls) == 'table', 'controls', ('a list of names in lotto.ticket.controls (%s)'):format(
    table.concat(controls.names(), ', ')))
  for i, c in ipairs(cfg.controls) do
    local ok, err = controls.check(c)
    if not ok then bad(("%s in option 'controls'[%d]"):format(err, i)) end
  end
  need(cfg.progress == 'auto' or type(cfg.progress) == 'boolean', 'progress', "'auto', true or false")
  need(cfg.earlybird == false or type(cfg.earlybird) == 'table', 'earlybird', 'false or a lotto.earlybird options table')
  need(cfg.bn_l1 == false or (type(cfg.bn_l1) == 'number' and cfg.bn_l1 >= 0), 'bn_l1', 'false or a number >= 0')
  if cfg.source then
    need(type(cfg.source) == 'table' and type(cfg.source.run) == 'string', 'source', "a table {run = 'runs/<name>', weights = 'init'|'rewind'|'fresh'}")
    local w = cfg.source.weights or 'init'
    if w ~= 'init' and w ~= 'rewind' and w ~= 'fresh' then bad(("option 'source.weights' must be 'init', 'rewind' or 'fresh' (got %s)"):format(tostring(w))) end
  end
end

-- The options of a run: defaults overridden by opts, numbers made integers, checked.
function M.merge(defaults, opts)
  if type(opts) == 'table' and opts.preset then
    if type(opts.preset) ~= 'string' then bad(("option 'preset' must be a name in lotto.presets (got %s)"):format(type(opts.preset))) end
    local ok, row = pcall(presets.options, opts.preset)
    if not ok then bad(("option 'preset': %s"):format(U.strip(row):gsub('^lotto%.presets%.get: ', ''))) end
    defaults = U.merge(defaults, row, 'lotto.ticket', 'preset')
  end
  local out = U.merge(defaults, opts, 'lotto.ticket', 'see lotto.ticket.defaults')
  if type(out.seeds) == 'number' then out.seeds = { out.seeds } end
  for _, k in ipairs { 'batch', 'iterations', 'epochs', 'eval_every', 'eval_batch', 'rounds', 'rewind' } do
    if type(out[k]) == 'number' and math.tointeger(out[k]) then out[k] = math.tointeger(out[k]) end
  end
  validate(out)
  return out
end

function M.build_model(cfg)
  if type(cfg.model) == 'function' then
    local m = cfg.model(cfg)
    if not nn.is_model(m) then bad("option 'model': the function did not return a lotto.nn model") end
    return m
  end
  return models[cfg.model](cfg.model_opts)
end

-- Data sets loaded by name, kept for the next run in this process (a sweep of runs).
local data_cache = {}

function M.load_data(cfg)
  local d = cfg.data
  if type(d) == 'function' then d = d(cfg) end
  if type(d) == 'table' then
    if d.train == nil then bad("option 'data': the data table has no train set") end
    return d
  end
  local key = d .. json.encode(cfg.data_opts or {})
  if not data_cache[key] then
    local ok, ds = pcall(data.load, d, cfg.data_opts)
    if not ok then bad(("option 'data': %s"):format(U.strip(ds))) end
    data_cache[key] = ds
  end
  return data_cache[key]
end

return M
