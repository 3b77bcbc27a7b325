-- ugs.lua: graph lottery tickets by Unified GNN Sparsification (Chen et al., ICML 2021):
-- prune a GNN's weights and its graph's edges together. lotto.ugs.run{...}, beside
-- lotto.ticket.imp, runs round by round:
--   round 0    the dense network trained from θ0;
--   round k    mask search: from θ0 under the current masks, train with a soft edge mask m_g
--              (the graph's edge weights) and a soft weight mask m_θ (θ ⊙ m_θ in the forward),
--              both starting at 1, with L1 penalties s1 |m_g| and s2 |m_θ|; take the soft masks
--              of the best-validation epoch (or of the early-bird epoch), prune prune_graph of
--              the remaining edges and prune_weight of the remaining weights (one global
--              threshold, or per layer) by soft-mask magnitude; then rewind the weights to θ0 and train the ticket (hard
--              masks, edge weights 1). Controls: 'random' (the paper's RP: random edges and
--              weights at the ticket's per-layer counts). Ablations: prune_graph = 0 (weights
--              only) or prune_weight = 0 (graph only).
-- edge_mask = 'directed' (the default) gives the graph one mask entry per direction (2E), as
-- the authors' code does (their mask is a dense n x n matrix, thresholded entry by entry): the
-- pruned graph may then be asymmetric, and graph sparsity, the edge counts of prune_graph and
-- of the random control are over directed entries (lotto.graph g:directed; the mode of a given
-- data.graph is set by the run). 'undirected': one entry per edge. On Cora (GCN, 5 seeds),
-- directed tickets were 0.36 (round 5) and 1.56 (round 4) points above undirected ones.
-- Results use the run store of lotto.ticket (runs/<name>/replicate_<seed>/round_<k>/, resume,
-- results.json); a round's metrics: test accuracy at the best-validation epoch, graph and
-- weight density, inference MACs relative to dense.
local E = require 'lotto.experiment'
local G = require 'lotto.graph'
local prune = require 'lotto.prune'
local optim = require 'lotto.optim'
local sys = require 'lotto.sys'
local tensor = require 'lotto.tensor'
local io_ = require 'lotto.io'

local M = {}

-- Every option of run{...} with its default (the authors' release for GCN on Cora).
M.defaults = {
  name = 'ugs', root = 'runs',
  data = 'cora',            -- 'cora' | 'citeseer', or a table as lotto.graph.planetoid returns
  model = 'gcn',            -- 'gcn' | 'gat' | 'gin' (lotto.graph.model)
  hidden = 512,             -- GCN 1433-512-7 on Cora, 3703-512-6 on Citeseer
  heads = false,            -- GAT heads (false: lotto.graph.model's 8)
  dropout = false,          -- false: lotto.graph.model's (0.5 GCN/GIN, 0.6 GAT)
  input_dropout = 'auto',   -- dropout on the input features: 'auto' = none for gcn (the authors' GCN),
                            -- the model's dropout for gat and gin; false: = dropout; or a number
  bias = false,             -- GCN biases: none in the authors' GCN
  epochs = 200,             -- per training (search, ticket, control)
  lr = false,               -- false: per data set, see M.data_defaults
  weight_decay = false,
  mask_lr = false,          -- Adam rate of the soft masks (false: lr)
  s1 = 1e-2,                -- L1 on the graph mask
  s2 = 1e-2,                -- L1 on the weight mask
  mask_noise = 1e-5,        -- soft masks start at 1 + U(-c, c), c = mask_noise (the authors'
                            -- --init_soft_mask_type all_one); 0: exactly 1
  init = 'glorot_normal',   -- θ0 of the prunable weights: 'glorot_normal' (lotto.graph.model's) or
                            -- 'torch' (U(+-1/sqrt(fan_in)), nn.Linear's default, the authors' GCN)
  ties = 'val_loss',        -- the best-validation epoch (search and trainings) on a tie of accuracy:
                            -- 'val_loss' the lower validation loss, 'first' the first (the authors')
  edge_mask = 'directed',   -- 'directed': one mask entry per direction (2E, the authors' code),
                            -- graph density over those; 'undirected': one per edge (E)
  prune_graph = 0.05,       -- p_g: fraction of the remaining edges pruned per round
  prune_weight = 0.2,       -- p_θ: fraction of the remaining weights pruned per round
  weight_scope = 'global',  -- 'global': one threshold over all layers (the authors' code);
                            -- 'layer': p_θ of each layer's remaining weights
  rounds = 20,
  seeds = { 1 },
  controls = { 'random' },  -- 'random': RP at the ticket's sparsities
  earlybird = false,        -- {threshold = 0.01, window = 5}: stop the search once the masks the
                            -- pruning would draw differ by less than threshold (normalised Hamming
                            -- distance, edges and weights each) for window epochs in a row
  restart = false, plots = true, verbose = true, threads = false,
  _plot = 'lotto.ugs_plot',  -- what `lotto plot <run dir>` draws this run's plots with
  _volatile = { 'restart', 'plots', 'verbose', 'threads', 'root', 'rounds', 'seeds', '_plot' },
}
-- Learning rate and weight decay per data set (Chen et al.'s release).
M.data_defaults = { cora = { lr = 0.008, weight_decay = 8e-5 }, citeseer = { lr = 0.01, weight_decay = 5e-4 } }

local function bad(msg) error('lotto.ugs: ' .. msg, 0) end

local function merge(opts)
  if opts ~= nil and type(opts) ~= 'table' then bad('expected an options table') end
  local cfg = {}
  for k, v in pairs(M.defaults) do cfg[k] = v end
  for k, v in pairs(opts or {}) do
    if M.defaults[k] == nil then bad(("unknown option '%s'"):format(tostring(k))) end
    cfg[k] = v
  end
  local dd = type(cfg.data) == 'string' and M.data_defaults[cfg.data] or M.data_defaults.cora
  if cfg.lr == false then cfg.lr = dd.lr end
  if cfg.weight_decay == false then cfg.weight_decay = dd.weight_decay end
  for _, k in ipairs { 'lr', 'weight_decay', 's1', 's2', 'prune_graph', 'prune_weight', 'mask_noise' } do
    if type(cfg[k]) ~= 'number' or cfg[k] < 0 then bad(("option '%s' must be a number >= 0"):format(k)) end
  end
  if cfg.prune_graph >= 1 or cfg.prune_weight >= 1 then bad('prune rates must be below 1') end
  if cfg.init ~= 'glorot_normal' and cfg.init ~= 'torch' then
    bad(("option 'init' must be 'glorot_normal' or 'torch' (got %s)"):format(tostring(cfg.init)))
  end
  if cfg.edge_mask ~= 'undirected' and cfg.edge_mask ~= 'directed' then
    bad(("option 'edge_mask' must be 'undirected' or 'directed' (got %s)"):format(tostring(cfg.edge_mask)))
  end
  if cfg.ties ~= 'val_loss' and cfg.ties ~= 'first' then
    bad(("option 'ties' must be 'val_loss' or 'first' (got %s)"):format(tostring(cfg.ties)))
  end
  if cfg.weight_scope ~= 'global' and cfg.weight_scope ~= 'layer' then
    bad(("option 'weight_scope' must be 'global' or 'layer' (got %s)"):format(tostring(cfg.weight_scope)))
  end
  for _, k in ipairs { 'epochs', 'rounds', 'hidden' } do
    if math.type(cfg[k]) ~= 'integer' or cfg[k] < (k == 'rounds' and 0 or 1) then
      bad(("option '%s' must be a positive integer"):format(k))
    end
  end
  if type(cfg.seeds) ~= 'table' or #cfg.seeds == 0 then bad("option 'seeds' must be a list of integers") end
  for _, c in ipairs(cfg.controls) do
    if c ~= 'random' then bad(("unknown control '%s' (random)"):format(tostring(c))) end
  end
  local pin = cfg.input_dropout
  if not (pin == 'auto' or pin == false or (type(pin) == 'number' and pin >= 0 and pin < 1)) then
    bad(("option 'input_dropout' must be 'auto', false or a number in [0, 1) (got %s)"):format(tostring(pin)))
  end
  if cfg.earlybird then
    if type(cfg.earlybird) ~= 'table' then bad("option 'earlybird' must be false or {threshold =, window =}") end
    cfg.earlybird = { threshold = cfg.earlybird.threshold or 0.01, window = cfg.earlybird.window or 5 }
  end
  return cfg
end

-- Seeds of a round's trainings: init of round 0, dropout streams and controls.
local function derived(seed, k, what)
  return seed * 100003 + k * 101 + ({ search = 1, ticket = 2, random = 3, dense = 4, noise = 5 })[what]
end

local function build(cfg, d, seed)
  local pin = cfg.input_dropout
  if pin == 'auto' then pin = cfg.model == 'gcn' and 0 or nil end
  local m = G.model(d, { kind = cfg.model, hidden = cfg.hidden, heads = cfg.heads or nil, dropout = cfg.dropout or nil,
                         input_dropout = pin or nil, bias = cfg.bias, seed = seed })
  if cfg.init == 'torch' then -- nn.Linear's default: kaiming_uniform(a = sqrt 5) = U(+-1/sqrt(fan_in))
    m:init { seed = seed, weight = 'kaiming_uniform' } -- U(+-sqrt(6/fan_in)), then scaled by 1/sqrt 6
    for _, p in ipairs(m:parameters()) do
      if p.prunable then p.value:mul_(1 / math.sqrt(6)) end
    end
  end
  return m
end

-- ---- masks and files ----
local function save_masks(path, model, g)
  assert(io_.save(path, { weights = model:masks(), edges = g:mask() }, { dtypes = { weights = 'U8', edges = 'U8' } }))
end

local function load_masks(path, model, g)
  local t, err = io_.load(path)
  if not t then bad(err) end
  model:masks():copy(t.weights)
  model:apply_mask()
  g:mask():copy(t.edges)
end

local function prunables(model)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then out[#out + 1] = p end
  end
  return out
end

-- A view of a flat tensor shaped like parameter p.
local function view(flat, p) return flat:narrow(1, p.offset + 1, p.numel):reshape(p.shape) end

-- Inference multiply-adds: N x (kept weights) + (A_hat entries) x (aggregated width) per layer;
-- A_hat holds 2 entries per kept edge, or 1 per kept directed entry.
local function macs(cfg, d, model, g)
  local kept = 0
  for _, p in ipairs(prunables(model)) do kept = kept + prune.count(p.mask) end
  local widths = 0
  local F, C, h = d.features, d.classes, cfg.hidden
  if cfg.model == 'gcn' then widths = h + C
  elseif cfg.model == 'gat' then widths = h * (cfg.heads or 8) + C
  else widths = F + h end
  return d.nodes * kept + ((g:directed() and 1 or 2) * g:kept() + d.nodes) * widths
end

-- ---- trainings ----
local function summarize(h, cfg, d, model, g, dense_macs)
  local b = h.best
  return { test_acc = b.test_acc, val_acc = b.val_acc, train_acc = b.train_acc, best_epoch = b.epoch,
           final_test_acc = h.epochs[#h.epochs].test_acc, graph_density = g:density(),
           weight_density = model:density(), macs = macs(cfg, d, model, g), macs_rel = macs(cfg, d, model, g) / dense_macs }
end

-- Trains a model under its hard masks with edge weights 1 (a ticket, a control, round 0).
local function train_hard(cfg, d, model, g)
  g:weight():fill(1)
  g:weight_grad(false) -- fixed edges: no gradient to compute
  return G.fit(model, d, { epochs = cfg.epochs, lr = cfg.lr, weight_decay = cfg.weight_decay, ties = cfg.ties })
end

-- The masks pruning would draw from soft masks sm (weights, flat) and gw (edges).
local function draw(cfg, model, g, sm, gw)
  local wmask, emask = model:masks():clone(), g:mask():clone()
  if cfg.prune_graph > 0 then prune.magnitude_mask(emask, gw, cfg.prune_graph) end
  if cfg.prune_weight > 0 then
    local ms, ss = {}, {}
    for i, p in ipairs(prunables(model)) do ms[i], ss[i] = view(wmask, p), view(sm, p) end
    if cfg.weight_scope == 'global' then
      prune.global { masks = ms, scores = ss, p = cfg.prune_weight }
    else
      for i = 1, #ms do prune.magnitude_mask(ms[i], ss[i], cfg.prune_weight) end
    end
  end
  return wmask, emask
end

-- The mask search of UGS. Returns the new weight and edge masks, what it did, and the soft
-- masks they were drawn from (weights flat, edges). noise_seed: the stream of the masks' start
-- noise (cfg.mask_noise).
local function search(cfg, d, model, g, noise_seed)
  local values, grads, hard = model:values(), model:grads(), model:masks()
  local theta = values:clone()
  local sm = tensor.ones { values:numel() }         -- soft weight mask (1 on non-prunable entries)
  local trainable = tensor.zeros { values:numel() } -- the soft mask moves on kept prunable weights only
  local fixed = tensor.ones { values:numel() }      -- and stays 1 on the rest (biases, attention, eps)
  for _, p in ipairs(prunables(model)) do
    view(trainable, p):copy(p.mask)
    view(fixed, p):fill(0)
  end
  local gm = tensor.zeros { values:numel() }
  -- the L1 subgradients, in buffers reused every epoch (the collector does not see tensor storage)
  local l1w, l1g = tensor.zeros { values:numel() }, tensor.zeros { g:nmask() }
  g:weight():fill(1)
  g:weight_grad(true)
  if (cfg.mask_noise or 0) > 0 then -- the authors' all_one start: 1 + U(-c, c) on the kept entries
    local c, ns = cfg.mask_noise, noise_seed or 0
    sm:add_(tensor.rand({ values:numel() }, ns, -c, c):mul_(trainable))
    g:weight():add_(tensor.rand({ g:nmask() }, ns + 1, -c, c):mul_(g:mask()))
  end
  local mlr = cfg.mask_lr or cfg.lr
  local ot = optim.adam { params = theta, grads = grads, mask = hard, lr = cfg.lr, weight_decay = cfg.weight_decay }
  local om = optim.adam { params = sm, grads = gm, mask = trainable, lr = mlr }
  local og = optim.adam { params = g:weight(), grads = g:grad(), mask = g:mask(), lr = mlr }
  local best, best_sm, best_gw = { val_acc = -1, val_loss = math.huge }, sm:clone(), g:weight():clone()
  local eb, prev, calm, stop_at = cfg.earlybird, nil, 0, nil
  local first = cfg.ties == 'first'
  for e = 1, cfg.epochs do
    values:copy(theta):mul_(sm)
    g:zero_grad()
    G.step(model, d.x, d.y, d.train)
    gm:copy(grads):mul_(theta):add_(l1w:copy(sm):sign_():mul_(cfg.s2))
    grads:mul_(sm)
    g:grad():add_(l1g:copy(g:weight()):sign_():mul_(cfg.s1))
    ot:step(); om:step(); og:step()
    sm:add_(fixed) -- the optimizer zeroes what its mask excludes: back to 1 off the prunable weights
    g:weight():clamp_(0, math.huge) -- degrees stay >= 1 (self-loop): the normalisation stays finite
    values:copy(theta):mul_(sm)
    local _, _, va, vl = G.evaluate(model, d.x, d.y, d.train, d.val)
    if va > best.val_acc or (not first and va == best.val_acc and vl < best.val_loss) then
      best = { epoch = e, val_acc = va, val_loss = vl }
      best_sm:copy(sm); best_gw:copy(g:weight())
    end
    if eb then
      local wm, em = draw(cfg, model, g, sm, g:weight())
      if prev then
        local _, dw = prune.hamming(wm, prev[1])
        local _, de = prune.hamming(em, prev[2])
        calm = (dw < eb.threshold and de < eb.threshold) and calm + 1 or 0
      end
      prev = { wm, em }
      if calm >= eb.window then
        stop_at = e
        best_sm:copy(sm); best_gw:copy(g:weight())
        break
      end
    end
  end
  local wm, em = draw(cfg, model, g, best_sm, best_gw)
  return wm, em, { best_epoch = best.epoch, val_acc = best.val_acc, earlybird_epoch = stop_at }, best_sm, best_gw
end

local function say(cfg, fmt, ...) if cfg.verbose then print(fmt:format(...)) end end

local function pct(x) return x and ('%.2f%%'):format(100 * x) or '-' end

local function dense_round(run, cfg, d, seed)
  local g = d.graph
  run:begin_round(seed, 0)
  local t0 = sys.now()
  local model = build(cfg, d, seed) -- θ0: Glorot normal from the replicate's seed
  g:mask():fill(1)
  assert(io_.save(run:replicate_dir(seed) .. '/init.safetensors', { values = model:state() }))
  save_masks(run:mask_path(seed, 0), model, g)
  local dense_macs = macs(cfg, d, model, g)
  local s = { round = 0, density = 1.0, graph_density = 1.0, dense_macs = dense_macs,
              runs = { ticket = summarize(train_hard(cfg, d, model, g), cfg, d, model, g, dense_macs) } }
  s.seconds = sys.now() - t0
  run:write_summary(seed, 0, s)
  say(cfg, 'seed %d round 0: dense  test %s (best val %s at epoch %d)  %.1f s', seed, pct(s.runs.ticket.test_acc),
    pct(s.runs.ticket.val_acc), s.runs.ticket.best_epoch, s.seconds)
  return s
end

-- A fresh model (dropout streams from (seed, k, what)) holding θ0 and the masks of `path`.
local function at_theta0(run, cfg, d, seed, k, what, path)
  local model = build(cfg, d, derived(seed, k, what))
  local t = io_.load(run:replicate_dir(seed) .. '/init.safetensors')
  model:load_state(t.values)
  load_masks(path, model, d.graph)
  return model
end

local function prune_round(run, cfg, d, seed, k, dense_macs)
  local g, t0 = d.graph, sys.now()
  local model = at_theta0(run, cfg, d, seed, k, 'search', run:mask_path(seed, k - 1))
  local before_w, before_e = model:density(), g:density()
  local wm, em, info = search(cfg, d, model, g, derived(seed, k, 'noise'))
  run:begin_round(seed, k)
  model:masks():copy(wm)
  g:mask():copy(em)
  save_masks(run:mask_path(seed, k), model, g)
  local s = { round = k, search = info, runs = {} }
  model = at_theta0(run, cfg, d, seed, k, 'ticket', run:mask_path(seed, k))
  s.density, s.graph_density = model:density(), g:density()
  if s.density >= before_w and s.graph_density >= before_e then
    say(cfg, 'seed %d round %d: pruning removed nothing; stopping', seed, k)
    return false
  end
  s.runs.ticket = summarize(train_hard(cfg, d, model, g), cfg, d, model, g, dense_macs)
  for _, c in ipairs(cfg.controls) do -- 'random': the ticket's counts, drawn at random
    local r = at_theta0(run, cfg, d, seed, k, 'random', run:mask_path(seed, k))
    local rs = derived(seed, k, 'random')
    for i, p in ipairs(prunables(r)) do
      local keep = prune.count(p.mask)
      p.mask:fill(1)
      prune.random(p.mask, 1 - keep / p.numel, rs + i)
    end
    r:apply_mask()
    local ekeep = g:kept()
    g:mask():fill(1)
    prune.random(g:mask(), 1 - ekeep / g:nmask(), rs) -- edges, or directed entries
    s.runs[c] = summarize(train_hard(cfg, d, r, g), cfg, d, r, g, dense_macs)
  end
  s.seconds = sys.now() - t0
  run:write_summary(seed, k, s)
  local parts = {}
  for _, c in ipairs(cfg.controls) do parts[#parts + 1] = ('  %s %s'):format(c, pct(s.runs[c].test_acc)) end
  say(cfg, 'seed %d round %d: edges %5.1f%%  weights %5.1f%%  MACs %5.1f%%  ticket %s%s  (search best epoch %d%s)  %.1f s',
    seed, k, 100 * s.graph_density, 100 * s.density, 100 * s.runs.ticket.macs_rel, pct(s.runs.ticket.test_acc),
    table.concat(parts), info.best_epoch, info.earlybird_epoch and (', early bird at ' .. info.earlybird_epoch) or '',
    s.seconds)
  return true
end

local function load_data(cfg)
  if type(cfg.data) == 'table' then
    if not (cfg.data.x and cfg.data.graph) then bad("option 'data' must hold x, y, graph, train, val, test") end
    return cfg.data
  end
  if cfg.data ~= 'cora' and cfg.data ~= 'citeseer' then
    bad(("option 'data' must be 'cora', 'citeseer' or a graph data table (got %s)"):format(tostring(cfg.data)))
  end
  return G.planetoid(cfg.data)
end

-- Options added after runs were made, with the value that gives those runs' behaviour (not the
-- default since): a stored config that lacks one counts as this value (E.open's defaults), so
-- such a run still resumes (and extends) with edge_mask = 'undirected', mask_noise = 0, ...
M.added = { edge_mask = 'undirected', mask_noise = 0, init = 'glorot_normal', ties = 'val_loss' }

-- lotto.ugs.run{...} -> results (as results.json), run. Options: M.defaults.
function M.run(opts)
  local cfg = merge(opts)
  if cfg.threads then tensor.set_threads(cfg.threads) end
  local d = load_data(cfg)
  d.graph:directed(cfg.edge_mask == 'directed') -- a switch resets its masks; dense_round fills them anyway
  local ok, run, err = pcall(E.open, { root = cfg.root, name = cfg.name, config = cfg, defaults = M.added,
                                   restart = cfg.restart })
  if not ok or not run then bad(tostring(ok and err or run):gsub('^[^:]*:%d+: ', '')) end
  if run.resumed then say(cfg, 'resuming %s', run.dir) end
  -- everything under the run's lock (E.open holds it); an error releases it
  local wok, results = pcall(function()
    for _, seed in ipairs(cfg.seeds) do
      local s0 = run:round_done(seed, 0) and run:load_summary(seed, 0) or dense_round(run, cfg, d, seed)
      for k = 1, cfg.rounds do
        if not run:round_done(seed, k) and not prune_round(run, cfg, d, seed, k, s0.dense_macs) then break end
      end
    end
    local res, timing = run:aggregate()
    if not res then bad(timing) end
    assert(run:write_results(res, timing))
    if cfg.plots then
      local pok, perr = pcall(require('lotto.ugs_plot').run, run.dir, { quiet = not cfg.verbose })
      if not pok and sys.interrupted() then error(perr, 0) end -- Ctrl-C is never swallowed
      if not pok then say(cfg, 'plots not drawn: %s', tostring(perr)) end
    end
    return res
  end)
  run:close()
  if not wok then error(results, 0) end
  return results, run
end

M.search = search
M.draw = draw
M.macs = macs

local hok, help = pcall(require, 'lotto.help')
if hok and type(help) == 'table' and help.register then
  help.register(M, {
    run = "run{name =, data = 'cora', model = 'gcn', rounds = 20, seeds = {1}, edge_mask = 'undirected'|'directed', ...} -> results, run: UGS graph lottery tickets",
  })
end

return M
