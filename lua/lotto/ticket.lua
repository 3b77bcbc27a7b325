-- lotto.ticket: lottery-ticket experiments. This file is the module's face; the parts
-- live in lua/lotto/ticket/:
--   config.lua    the options of imp{...} (lotto.ticket.defaults), their checks, model and data
--   ops.lua       ticket operations: snapshot, rewind, reinit, sign-preserving reinit,
--                 permuted and random masks, reinit_layers
--   controls.lua  the baselines trained beside each ticket, one table entry each
--   files.lua     a replicate's safetensors files; load(rundir, seed, round)
--   transfer.lua  a stored ticket applied to another model
--   imp.lua       the IMP driver (imp, one_shot, train), resumable through lotto.experiment
local config = require 'lotto.ticket.config'
local controls = require 'lotto.ticket.controls'
local files = require 'lotto.ticket.files'
local imp = require 'lotto.ticket.imp'
local ops = require 'lotto.ticket.ops'
local transfer = require 'lotto.ticket.transfer'
local U = require 'lotto.util'

local M = {}

M.defaults = config.defaults
M.controls = controls -- add a control here: lotto.ticket.controls.<name> = {seed_offset =, label =, apply =}

M.imp, M.one_shot, M.train = imp.imp, imp.one_shot, imp.train
M.snapshot, M.rewind, M.reset_buffers = ops.snapshot, ops.rewind, ops.reset_buffers
M.reinit, M.sign_preserving_reinit, M.reinit_layers = ops.reinit, ops.sign_preserving_reinit, ops.reinit_layers
M.permute, M.random_mask = ops.permute, ops.random_mask
M.named, M.load = files.named, files.load
M.transfer = transfer.transfer

-- The model of a stored round with its mask: built from the run's config (a zoo model),
-- masks set, values = the trained ticket ('final', default), θ0 ('init') or θk ('rewind').
-- Only the ticket's weights are stored; a control is rebuilt from them (lotto.ticket.controls).
function M.model(dir, seed, k, weights)
  weights = weights or 'final'
  U.one_of(weights, { 'final', 'init', 'rewind' }, 'weights', 'lotto.ticket.model')
  local t, err = files.load(dir, seed, k)
  if not t then return nil, err end
  if type(t.config.model) ~= 'string' or not require('lotto.models')[t.config.model] then
    return nil, ('lotto.ticket.model: %s was made with a model function: build the model and use lotto.ticket.load'):format(dir)
  end
  local m = config.build_model(t.config)
  if m:values():numel() ~= t.mask:numel() then
    return nil, ('lotto.ticket.model: the files of %s do not fit model %s'):format(dir, t.config.model)
  end
  m:masks():copy(t.mask)
  m:load_state(t[weights])
  m:apply_mask()
  return m, t
end

-- Tidy CSV of results.aggregate: one row per round, method and metric (every metric of
-- the summaries unless opts.metric names one), with mean, std, min, max and n.
local function csv(results, opts)
  local lines = { 'round,remaining_pct,method,metric,mean,std,min,max,n' }
  for _, a in ipairs(results.aggregate) do
    local ms = {}
    for m in pairs(a.methods) do ms[#ms + 1] = m end
    table.sort(ms)
    for _, m in ipairs(ms) do
      local keys = {}
      for key, st in pairs(a.methods[m]) do
        if type(st) == 'table' and st.mean and (not opts.metric or opts.metric == key) then keys[#keys + 1] = key end
      end
      table.sort(keys)
      for _, key in ipairs(keys) do
        local st = a.methods[m][key]
        lines[#lines + 1] = ('%d,%.6g,%s,%s,%.9g,%.9g,%.9g,%.9g,%d'):format(a.round, a.remaining_pct, m, key,
          st.mean, st.std, st.min, st.max, st.n or 0)
      end
    end
  end
  return table.concat(lines, '\n') .. '\n'
end

-- A text table of results (from imp): one row per round, one column per method (the
-- ticket, then the controls in the order of lotto.ticket.controls), mean ± std over
-- replicates of opts.metric (default early_stop_test_acc, shown in %); the mean alone for
-- one replicate. format = 'csv': a tidy CSV of every metric instead.
function M.report(results, opts)
  opts = opts or {}
  if opts.format == 'csv' then return csv(results, opts) end
  local metric = opts.metric or 'early_stop_test_acc'
  local scale = opts.scale or (metric:find('acc') and 100 or 1)
  local fmt = opts.format or (scale == 100 and '%.2f ± %.2f' or '%.4g ± %.2g')
  local fmt1 = fmt:gsub('%s*±.*$', '')
  local methods = opts.methods
  if not methods then
    methods = {}
    local seen = {}
    local order = { 'ticket' }
    for _, c in ipairs(controls.names()) do order[#order + 1] = c end
    for _, m in ipairs(order) do
      for _, a in ipairs(results.aggregate) do
        if a.methods[m] and not seen[m] then seen[m] = true; methods[#methods + 1] = m end
      end
    end
  end
  local lines = { ('%-6s %10s' .. (' %20s'):rep(#methods)):format('round', 'remaining', table.unpack(methods)) }
  for _, a in ipairs(results.aggregate) do
    local cells = {}
    for i, m in ipairs(methods) do
      local st = a.methods[m] and a.methods[m][metric]
      if st and (st.n or 2) <= 1 then cells[i] = fmt1:format(st.mean * scale)
      else cells[i] = st and fmt:format(st.mean * scale, st.std * scale) or '-' end
    end
    lines[#lines + 1] = ('%-6d %9.2f%%' .. (' %20s'):rep(#methods)):format(a.round, a.remaining_pct, table.unpack(cells))
  end
  return table.concat(lines, '\n')
end

local hok, help = pcall(require, 'lotto.help')
if hok and type(help) == 'table' and help.register then
  help.register(M, {
    imp = 'imp{name =, model =, data =, optimizer =, iterations =, rounds =, prune =, rewind =, controls =, seeds =, ...} -> results, run\n'
      .. 'Iterative magnitude pruning, resumable; results in <root>/<name>/ (docs/reference.md). Options:\n' .. config.describe(),
    defaults = 'defaults: every option of imp{...} and one_shot{...} with its default; a script passes only what it changes\n'
      .. config.describe(),
    one_shot = 'one_shot{density = 0.2, ...} -> results, run: prune once to the density; the other options are those of imp (help(lotto.ticket.imp))',
    snapshot = 'snapshot(model) -> θ: a flat copy of the values',
    rewind = 'rewind(model, θ[, mask]) -> model: masks (if given), surviving weights = θ, pruned = 0',
    reinit = "reinit(model, seed[, init]) -> model: fresh draw, same mask",
    sign_preserving_reinit = 'sign_preserving_reinit(model, θ0, seed[, init]) -> model: fresh magnitudes, signs of θ0',
    permute = 'permute(model, seed) -> model: each layer mask shuffled within the layer (masks only)',
    random_mask = 'random_mask(model, seed) -> model: random masks at the per-layer counts (masks only)',
    reset_buffers = 'reset_buffers(model) -> model: batchnorm running statistics to mean 0, var 1 (lotto.nn.clear_bn_stats)',
    train = 'train(model, data, cfg[, {start =, data_seed =, snapshots =, earlybird = false}]) -> history: a fresh optimizer from cfg',
    model = "model(rundir, seed, round[, 'final'|'init'|'rewind']) -> model (mask set, weights of the ticket), ticket | nil, msg",
    load = 'load(rundir, seed, round) -> ticket {mask, init, rewind, final (flat), named = {...}, summary} | nil, msg',
    transfer = "transfer(model, ticket, {weights = 'init'|'rewind'|'final'|'fresh', reinit = {layers}, seed =}) -> model",
    reinit_layers = 'reinit_layers(model, {names}, seed[, init]) -> model: fresh draws for these layers',
    named = 'named(model, flat[, prunable_only]) -> {name = view}: a flat tensor split by parameter',
    report = "report(results[, {metric = 'early_stop_test_acc', methods =, format = '%.2f ± %.2f' | 'csv'}]) -> text table | tidy CSV",
    controls = 'controls: {name = {seed_offset =, label =, apply = function(model, ctx) -> start}}; '
      .. 'imp{controls = {names}} trains them; controls.names() lists them in order',
  })
end

return M
