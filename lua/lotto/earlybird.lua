-- lotto.earlybird: early-bird tickets (You et al., ICLR 2020). During training, draw
-- the mask that pruning would produce from the current weights, and stop once the
-- last `window` masks lie within `threshold` (normalised Hamming distance) of each
-- other: the ticket has emerged long before the weights have converged.
--
--   local eb = lotto.earlybird.new{ ratio = 0.5, window = 5, threshold = 0.1 }
--   lotto.train.fit(model, data, { ..., on_eval = lotto.earlybird.callback(model, eb) })
--   print(eb.found_at.epoch); eb:apply(model)          -- prune the model to the early-bird mask
local prune = require 'lotto.prune'
local tensor = require 'lotto.tensor'
local json = require 'lotto.json'
local nn = require 'lotto.nn'
local plot = require 'lotto.plot'
local E = require 'lotto.experiment'
local U = require 'lotto.util'

local M = {}
local EB = {}
EB.__index = EB
M.EarlyBird = EB

local function fail(where, msg) U.fail('lotto.earlybird.' .. where, msg) end

--- earlybird.distance(a, b) -> normalised Hamming distance of two masks (differing / size), count.
function M.distance(a, b)
  if not tensor.is_tensor(a) or not tensor.is_tensor(b) then fail('distance', 'expected two mask tensors') end
  if a:numel() ~= b:numel() then
    fail('distance', ('masks have %d and %d entries'):format(a:numel(), b:numel()))
  end
  local count, frac = prune.hamming(a:contiguous():reshape { -1 }, b:contiguous():reshape { -1 })
  return frac, count
end

local METHODS = { 'magnitude', 'channel', 'neuron' }
local new_keys = { ratio = true, window = true, threshold = true, method = true, scope = true, every = true }

--- earlybird.new{ratio = 0.5, window = 5, threshold = 0.1, method = 'magnitude'|'channel'|'neuron',
--   scope = 'global'|'local', every = nil} -> eb. every (iterations between observations) is
-- read by the callers that set eval_every (lotto.ticket); eb itself observes when told.
function M.new(opts)
  opts = U.check_options(opts, new_keys, 'lotto.earlybird.new')
  local eb = setmetatable({
    ratio = opts.ratio or 0.5, window = opts.window or 5, threshold = opts.threshold or 0.1,
    method = opts.method or 'magnitude', scope = opts.scope or 'global', every = opts.every,
    history = {}, trace = {}, distances = { consecutive = {}, matrix = {} }, found = false,
  }, EB)
  if type(eb.ratio) ~= 'number' or not (eb.ratio > 0 and eb.ratio < 1) then
    fail('new', ('ratio (the fraction to prune) must be in (0, 1) (got %s)'):format(tostring(eb.ratio)))
  end
  if math.type(eb.window) ~= 'integer' or eb.window < 2 then
    fail('new', ('window must be an integer >= 2 (got %s)'):format(tostring(eb.window)))
  end
  if type(eb.threshold) ~= 'number' or not (eb.threshold > 0 and eb.threshold <= 1) then
    fail('new', ('threshold must be in (0, 1] (got %s)'):format(tostring(eb.threshold)))
  end
  U.one_of(eb.method, METHODS, 'method', 'lotto.earlybird.new')
  U.one_of(eb.scope, { 'global', 'local' }, 'scope', 'lotto.earlybird.new')
  if eb.every ~= nil and (math.type(eb.every) ~= 'integer' or eb.every < 1) then
    fail('new', ('every must be a positive integer (got %s)'):format(tostring(eb.every)))
  end
  return eb
end

-- ---- drawing masks -----------------------------------------------------------------------

-- A prunable weight with rows (output neurons or channels over inputs: linear, conv2d).
local function has_rows(p) return p.prunable and #p.shape >= 2 end

-- The units a method scores: {p = param, n = units, rows = row length (neuron), score =, alive =}.
local function units(model, method)
  local ps = model:parameters()
  local out = {}
  if method == 'magnitude' then
    for _, p in ipairs(ps) do
      if p.prunable then
        out[#out + 1] = { p = p, n = p.numel, score = p.value:reshape { -1 }, alive = p.mask:clone():reshape { -1 } }
      end
    end
  elseif method == 'channel' then
    -- the scales (weights) of the layers that keep running statistics: batchnorm
    local norm = {}
    for _, b in ipairs(nn.bn_buffers(model)) do norm[b.name .. '.weight'] = true end
    for _, p in ipairs(ps) do
      if norm[p.name] then
        out[#out + 1] = { p = p, n = p.numel, score = p.value:reshape { -1 }, alive = p.mask:clone():reshape { -1 } }
      end
    end
    if #out == 0 then fail('observe', "method 'channel' scores batchnorm scales, and the model has no batchnorm layer (use 'neuron' or 'magnitude')") end
  else -- neuron: rows of every prunable weight with rows but the output layer, by mean |w|
    local cand = {}
    for _, p in ipairs(ps) do
      if has_rows(p) then cand[#cand + 1] = p end
    end
    for i = 1, #cand - 1 do
      local p = cand[i]
      local rows = p.shape[1]
      local len = p.numel // rows
      local w = p.value:abs():reshape { rows, len }
      out[#out + 1] = { p = p, n = rows, rows = len, score = w:mean(2):reshape { -1 },
                        alive = p.mask:reshape { rows, len }:sum(2):reshape { -1 }:clamp(0, 1) }
    end
    if #out == 0 then fail('observe', "method 'neuron' needs at least two linear/conv layers (the output layer is kept)") end
  end
  return out
end

-- Draws the mask of the configured pruning from the model's current weights, on scratch
-- copies of the masks; the model is not modified. Returns the flat mask and the number
-- of candidate entries (alive before this pruning), the distance's denominator.
function EB:draw(model)
  local us = units(model, self.method)
  local masks, scores, total, alive = {}, {}, 0, 0
  for i, u in ipairs(us) do
    masks[i], scores[i] = u.alive, u.score
    total, alive = total + u.n, alive + prune.count(u.alive)
  end
  if self.scope == 'global' then
    prune.global { masks = masks, scores = scores, p = self.ratio }
  else
    for i = 1, #us do prune.magnitude_mask(masks[i], scores[i], self.ratio) end
  end
  local flat, off = tensor.zeros { total }, 0
  self.layout = {}
  for i, u in ipairs(us) do
    flat:narrow(1, off + 1, u.n):copy(masks[i])
    self.layout[i] = { name = u.p.name, offset = off, n = u.n, rows = u.rows }
    off = off + u.n
  end
  return flat, alive
end

-- ---- the window ---------------------------------------------------------------------------

local function dist(eb, a, b)
  local count = prune.hamming(a, b)
  local base = eb.base or a:numel()
  return base > 0 and count / base or 0
end

--- eb:push(mask, iter[, epoch]) -> found: adds a drawn mask (a flat tensor, copied), updates
-- eb.distances = {consecutive = {...}, matrix = {{...}}} over the last `window` masks and
-- returns true once the window is full and every pairwise distance in it is below the
-- threshold (eb.found, eb.found_at = {iter, epoch}, eb.mask). Masks pushed after that
-- are still tracked, but found_at and eb.mask keep the first detection.
function EB:push(mask, iter, epoch)
  if not tensor.is_tensor(mask) then fail('push', 'expected a mask tensor') end
  local h = self.history
  if #h > 0 and h[#h].mask:numel() ~= mask:numel() then
    fail('push', ('mask has %d entries, the previous ones %d'):format(mask:numel(), h[#h].mask:numel()))
  end
  local m = mask:contiguous():reshape { -1 }:clone()
  local prev = h[#h]
  h[#h + 1] = { mask = m, iter = iter, epoch = epoch }
  if #h > self.window then table.remove(h, 1) end
  local n, mx = #h, 0
  local matrix, cons = {}, {}
  for i = 1, n do
    matrix[i] = {}
    for j = 1, n do
      if j < i then matrix[i][j] = matrix[j][i]
      elseif j == i then matrix[i][j] = 0
      else matrix[i][j] = dist(self, h[i].mask, h[j].mask) end
      if matrix[i][j] > mx then mx = matrix[i][j] end
    end
    if i > 1 then cons[i - 1] = matrix[i - 1][i] end
  end
  self.distances = { consecutive = cons, matrix = matrix, max = mx, iters = {} }
  for i = 1, n do self.distances.iters[i] = h[i].iter end
  self.trace[#self.trace + 1] = { iter = iter, epoch = epoch, distance = prev and cons[#cons] or nil,
                                  window_max = n == self.window and mx or nil }
  local now = n == self.window and mx < self.threshold
  if now and not self.found then
    self.found, self.found_at, self.mask = true, { iter = iter, epoch = epoch }, m
    self.found_layout, self.found_distances = self.layout, self.distances
    self.found_labels = {}
    for i = 1, n do self.found_labels[i] = { iter = h[i].iter, epoch = h[i].epoch } end
  end
  return now or self.found
end

--- eb:observe(model, iter[, epoch]) -> found: draws the mask from the model's current
-- weights (the model is left untouched) and pushes it. Distances count only entries
-- that were alive in the model's mask, so an already-sparse IMP round is not diluted.
function EB:observe(model, iter, epoch)
  if not U.is_model(model) then fail('observe', 'expected a model') end
  local m, alive = self:draw(model)
  self.base = alive
  return self:push(m, iter, epoch)
end

--- eb:apply(model[, mask]) -> model: prunes the model to the early-bird mask (or `mask`,
-- drawn by this eb from the same model). channel: the batchnorm scale and shift of each
-- dropped channel and the rows of the conv/linear weight (and bias) producing it;
-- neuron: the rows (and biases) of dropped units; magnitude: the weights.
function EB:apply(model, mask)
  mask = mask or self.mask
  local layout = (mask == self.mask and self.found_layout) or self.layout
  if not mask or not layout then fail('apply', 'no mask drawn yet (observe first)') end
  local ps, by, flatm = model:parameters(), {}, model:masks()
  for i, p in ipairs(ps) do by[p.name] = i end
  local function zero_rows(p, rows_off) -- rows_off: list of 0-based row indices
    local len = p.numel // p.shape[1]
    for _, r in ipairs(rows_off) do flatm:narrow(1, p.offset + r * len + 1, len):fill(0) end
  end
  local function bias_of(p) return ps[by[(p.name:gsub('%.weight$', '.bias'))] or 0] end
  for _, l in ipairs(layout) do
    local i = by[l.name]
    if not i then fail('apply', ("the model has no parameter '%s'"):format(l.name)) end
    local p, seg = ps[i], mask:narrow(1, l.offset + 1, l.n)
    if self.method == 'magnitude' then
      flatm:narrow(1, p.offset + 1, p.numel):copy(seg)
    else
      local dead = {}
      for r, v in ipairs(seg:totable()) do if v == 0 then dead[#dead + 1] = r - 1 end end
      local b = bias_of(p)
      if self.method == 'neuron' then
        zero_rows(p, dead)
        if b then zero_rows(b, dead) end
      else -- channel: bn scale and shift, and the producing layer just before the batchnorm
        zero_rows(p, dead)
        if b then zero_rows(b, dead) end
        for j = i - 1, 1, -1 do
          local q = ps[j]
          if has_rows(q) then
            if q.shape[1] == p.numel then
              zero_rows(q, dead)
              local qb = bias_of(q)
              if qb then zero_rows(qb, dead) end
            end
            break
          end
        end
      end
    end
  end
  model:apply_mask()
  return model
end

--- eb:record() -> a JSON-able table: settings, found_at, the distance trace and last window.
function EB:record()
  return {
    ratio = self.ratio, window = self.window, threshold = self.threshold, method = self.method, scope = self.scope,
    found = self.found, found_at = self.found_at, trace = json.array(self.trace),
    window_matrix = self.distances.matrix, window_iters = self.distances.iters,
    found_window_matrix = self.found_distances and self.found_distances.matrix,
    found_window_iters = self.found_distances and self.found_distances.iters,
  }
end

--- eb:plot{out =, title =, format =, per_epoch =} -> images: the pairwise distance matrix
-- of the window where the early bird was found (or the last window; heatmap,
-- <out>_matrix) and the distance to the previous mask over training (lines, <out>_trace,
-- with the threshold). per_epoch (iterations per epoch) puts fractional epochs on the
-- x axis; without it, epochs when each observation has its own, else iterations.
-- Returns the list of images (nil, msg if none).
function EB:plot(opts)
  opts = opts or {}
  local out = opts.out or 'earlybird'
  local files, err = {}, nil
  local d = self.found_distances or self.distances
  local who = self.found_labels
  if not who then
    who = {}
    for i = 1, #(d.iters or {}) do who[i] = { iter = d.iters[i], epoch = self.history[i] and self.history[i].epoch } end
  end
  local by_epoch, seen = true, {}
  for _, w in ipairs(who) do
    if not w.epoch or seen[w.epoch] then by_epoch = false end
    if w.epoch then seen[w.epoch] = true end
  end
  local labels = {}
  for i, w in ipairs(who) do
    labels[i] = opts.per_epoch and ('epoch %.2g'):format(w.iter / opts.per_epoch)
      or by_epoch and ('epoch %d'):format(w.epoch) or ('iter %d'):format(w.iter)
  end
  if #labels > 0 then
    local img, e = plot.heatmap { out = out .. '_matrix', format = opts.format, matrix = d.matrix,
      labels = labels, cblabel = 'normalised Hamming distance', cbrange = { 0, math.max(self.threshold, d.max or 0) },
      title = (opts.title and (opts.title .. ': ') or '') .. (self.found_distances
        and ('the window of %d masks where the early bird was found'):format(#labels)
        or ('the last %d masks (no early bird yet)'):format(#labels)) }
    if img then files[#files + 1] = img else err = e end
  end
  local x, y, xlabel = {}, {}, 'iteration'
  seen, by_epoch = {}, true
  for _, t in ipairs(self.trace) do
    if not t.epoch or seen[t.epoch] then by_epoch = false end
    if t.epoch then seen[t.epoch] = true end
  end
  if opts.per_epoch or by_epoch then xlabel = 'epoch' end
  local wx, wy = {}, {}
  for _, t in ipairs(self.trace) do
    local at = opts.per_epoch and t.iter / opts.per_epoch or by_epoch and t.epoch or t.iter
    if t.distance then x[#x + 1], y[#y + 1] = at, t.distance end
    if t.window_max then wx[#wx + 1], wy[#wy + 1] = at, t.window_max end
  end
  if #x > 0 then
    local series = { { name = 'distance to the previous mask', x = x, y = y },
                     { name = ('max distance within the last %d masks'):format(self.window), x = wx, y = wy } }
    local ymax = self.threshold * 1.1
    for _, v in ipairs(y) do ymax = math.max(ymax, v) end
    for _, v in ipairs(wy) do ymax = math.max(ymax, v) end
    local hl = { y = self.threshold, name = ('threshold %.2g'):format(self.threshold) }
    local img, e = plot.lines { out = out .. '_trace', format = opts.format, series = series, key = 'top right',
      title = (opts.title and (opts.title .. ': ') or '') .. ('mask distance (%s, %.0f%% pruned)%s'):format(self.method,
        100 * self.ratio, self.found_at and (', found at %s %s'):format(xlabel, xlabel == 'epoch' and
          ('%.3g'):format(opts.per_epoch and self.found_at.iter / opts.per_epoch or self.found_at.epoch) or self.found_at.iter) or ''),
      xlabel = xlabel, ylabel = 'normalised Hamming distance', hline = hl, yrange = { 0, ymax * 1.05 } }
    if img then files[#files + 1] = img else err = e end
  end
  if #files == 0 then return nil, err or 'nothing to plot' end
  return files
end

-- ---- training integration ---------------------------------------------------------------

--- earlybird.callback(model, opts | eb, inner_on_eval) -> fn, eb: a lotto.train.fit on_eval
-- that calls inner_on_eval first (returning 'stop' if it does), then observes the model
-- and returns 'stop' when the early-bird ticket is found. opts are earlybird.new's.
function M.callback(model, opts, inner)
  if not U.is_model(model) then fail('callback', 'expected a model as argument #1') end
  if inner ~= nil and type(inner) ~= 'function' then fail('callback', 'inner_on_eval must be a function(record, model)') end
  local eb = getmetatable(opts) == EB and opts or M.new(opts)
  return function(rec, m)
    if inner and inner(rec, m) == 'stop' then return 'stop' end
    if eb:observe(m or model, rec.iter, rec.epoch) then return 'stop' end
  end, eb
end

--- earlybird.savings(run_dir) -> record | nil, message: for an IMP run (lotto.ticket.imp with earlybird =
-- {...}), each round's trained iterations against the configured ones (config.iterations,
-- else the dense round 0, which trains in full); written to <run_dir>/earlybird.json.
function M.savings(dir)
  local run, err = E.load(dir)
  if not run then return nil, err end
  local seeds = run:replicates()
  local rec = { rounds = json.array(), configured_total = 0, trained_total = 0, earlybird = run.config.earlybird }
  for _, seed in ipairs(seeds) do
    local s0 = run:load_summary(seed, 0)
    local configured = math.tointeger(run.config.iterations) or (s0 and s0.runs.ticket.final_iter)
    for _, k in ipairs(run:completed_rounds(seed)) do
      local s = run:load_summary(seed, k)
      local trained = s and s.runs and s.runs.ticket and s.runs.ticket.trained_iterations
      if k > 0 and trained and configured then
        rec.rounds[#rec.rounds + 1] = { seed = seed, round = k, density = s.density, configured = configured,
                                        trained = trained, saved = configured - trained }
        rec.configured_total = rec.configured_total + configured
        rec.trained_total = rec.trained_total + trained
      end
    end
  end
  rec.saved_total = rec.configured_total - rec.trained_total
  rec.saved_fraction = rec.configured_total > 0 and rec.saved_total / rec.configured_total or 0
  local ok, werr = json.write(run.dir .. '/earlybird.json', rec, { indent = true })
  if not ok then return nil, werr end
  return rec
end

local hok, help = pcall(require, 'lotto.help')
if hok and type(help) == 'table' and help.register then
  help.register(M, {
    new = "new{ratio = 0.5, window = 5, threshold = 0.1, method = 'magnitude', scope = 'global', every = nil} -> eb\n"
      .. '  ratio      fraction of the weights (or channels, neurons) a drawn mask prunes\n'
      .. '  window     number of consecutive masks compared\n'
      .. '  threshold  the ticket has emerged when all of them are within this normalised Hamming distance\n'
      .. "  method     'magnitude' (weights), 'channel' (batchnorm scales), 'neuron' (row norms)\n"
      .. "  scope      'global' (one threshold) or 'local' (per layer)\n"
      .. '  every      iterations between observations (read by lotto.ticket and callback)',
    distance = 'distance(a, b) -> normalised Hamming distance of two masks, count',
    callback = 'callback(model, opts[, inner]) -> on_eval for lotto.train.fit: observes and stops at the early bird',
    savings = 'savings(run_dir) -> record | nil, msg: trained against configured iterations per round (earlybird.json)',
  })
end

return M
