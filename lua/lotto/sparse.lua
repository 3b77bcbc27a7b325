-- lotto.sparse: sparse weights, kernels and dispatch (C, lotto.core.sparse), and
-- deployment of pruned models.
--
-- Every linear and conv2d layer chooses, at each forward, dense sgemm or the
-- CSR kernels from its mask density against a crossover measured on this
-- machine (calibrate_model, cached in cache_path()) or, without a measurement,
-- a fitted default; at inference, a frozen layer (load, set_layer{frozen = true})
-- whose mask is 1:4, 2:4 or 4:8 (prune.nm_model) runs on the n:m forward (AVX2)
-- from 32 columns on. Nothing to
-- do in a script: a pruned model trains and evaluates faster by itself. For
-- benchmarks and tests:
--
--   local sparse = require 'lotto.sparse'
--   sparse.mode('dense')                         -- 'auto' (default) | 'dense' | 'sparse', global
--   sparse.set_layer(model, 'fc1', { mode = 'sparse' })   -- or { crossover = 0.3 }
--   print(sparse.report(model))                  -- per layer: density, crossover, path taken
--   sparse.calibrate_model(model, { batch = 60 })  -- measures and caches the crossovers
--   sparse.export(model, 'ticket.sparse.safetensors')   -- compact: kept values + positions
--   local net = sparse.load('ticket.sparse.safetensors')  -- net:forward(x), net:evaluate(ds)
--
-- Kernels: local w = sparse.csr(weight, mask); w:matmul_t(x); w:backward_input(dy) ...
local channels = require 'lotto.channels'
local core = require 'lotto.core.sparse'
local U = require 'lotto.util'
local T = require 'lotto.tensor'
local nn = require 'lotto.nn'

local M = {}

M.csr = core.csr             -- (weight, mask) -> csr userdata
M.nm = core.nm               -- (weight, mask, n, m) -> n:m userdata: matmul_t, backward_input, weight_grad, todense
M.nm_kernel = core.nm_kernel -- (['auto'|'avx2'|'portable']) -> the n:m forward kernel before the call: 'avx2' | 'portable'
M.bench = core.bench         -- (rows, cols, batch, density [, reps]) -> timings (microseconds)
M.calibrate = core.calibrate -- (rows, cols, batch [, {densities=, reps=}]) -> crossover, timings
M.crossover = core.crossover -- (rows, cols, batch) -> default crossover density

local call = U.call

local function check_model(m, where)
  if not U.is_model(m) then U.fail('lotto.sparse.' .. where, ('expected a model (got %s)'):format(type(m))) end
end

local MODES = { 'auto', 'dense', 'sparse', 'nm' }
local function check_mode(m, where) return U.one_of(m, MODES, 'mode', where) end

--- Whether a (rows, cols) layer at this density and batch should run sparse,
-- by the default crossover (a measured one may be passed as `cross`).
function M.prefer_sparse(rows, cols, batch, density, cross)
  return density < (cross or core.crossover(rows, cols, batch))
end

--- mode([m]) -> the mode before the call. m: 'auto' | 'dense' | 'sparse' (global).
function M.mode(m)
  if m ~= nil then check_mode(m, 'lotto.sparse.mode') end
  return core.mode(m)
end

--- lazy([on]) -> the setting before the call. true (the default): in a training step
-- (model:step_loss, opt:step_after_loss) the dense weights and gradients of sparse layers
-- may lag behind their compact copies until something reads them (same results, fewer
-- passes); false writes them at every step (the previous path, for comparisons).
function M.lazy(on)
  if on ~= nil and type(on) ~= 'boolean' then U.fail('lotto.sparse.lazy', ('on must be a boolean (got %s)'):format(type(on))) end
  return core.lazy(on)
end

--- with_mode(m, f, ...) -> f(...) under mode m, restoring the previous mode (also on error).
function M.with_mode(m, f, ...)
  local old = M.mode(m)
  local res = table.pack(pcall(f, ...))
  core.mode(old)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

local layer_keys = { mode = true, crossover = true, frozen = true }

--- set_layer(model, name | nil, {mode = 'auto'|'dense'|'sparse'|'nm', crossover = d | 'auto', frozen = bool})
-- A layer's own mode wins over the global one; crossover fixes its threshold; nil name = all.
function M.set_layer(model, name, opts)
  check_model(model, 'set_layer')
  if type(opts) ~= 'table' then U.fail('lotto.sparse.set_layer', 'expected an option table {mode =, crossover =}') end
  U.check_options(opts, layer_keys, 'lotto.sparse.set_layer')
  if opts.mode ~= nil then check_mode(opts.mode, 'lotto.sparse.set_layer') end
  call('lotto.sparse.set_layer', core.set_layer, model, name, opts)
  return model
end

--- layers(model) -> {{name, kind, mode, path, density, nnz, crossover, measured, n, rows, cols, pixels,
-- builds, refreshes, frozen}}: the prunable layers and what their last forward did.
function M.layers(model)
  check_model(model, 'layers')
  return core.layers(model)
end

--- report(model) -> a table of the layers' densities, crossovers and paths, as text.
function M.report(model)
  check_model(model, 'report')
  local lines = { ('%-12s %-7s %8s %9s %10s  %-6s %s'):format('layer', 'kind', 'density', 'crossover', 'columns', 'path', 'mode') }
  for _, l in ipairs(core.layers(model)) do
    lines[#lines + 1] = ('%-12s %-7s %7.2f%% %9s %10s  %-6s %s'):format(l.name, l.kind, 100 * l.density,
      l.crossover and ('%.3f%s'):format(l.crossover, l.measured and '' or '*') or '-', l.n > 0 and tostring(l.n) or '-',
      l.path or '-', l.mode)
  end
  lines[#lines + 1] = '(* default crossover, not measured on this machine)'
  local c = channels.summary(model)
  local function mb(b) return b and ('%.2f MB'):format(b / 1e6) or '-' end
  lines[#lines + 1] = ('MACs per sample: dense %d, after masks %d (theoretical speed-up %.2fx), after shrinking %s')
    :format(c.macs, c.macs_kept, c.speedup or 0, c.macs_shrunk and tostring(c.macs_shrunk) or '-')
  lines[#lines + 1] = ('parameters: dense %s, sparse export %s, shrunk %s'):format(mb(c.bytes), mb(c.bytes_sparse),
    mb(c.bytes_shrunk))
  return table.concat(lines, '\n')
end

-- ---- crossovers ---------------------------------------------------------------

--- crossover_for(rows, cols, n) -> density, measured, source: what auto uses for this product now;
-- source 'shape' (a calibrated entry), 'machine' (the cost model at this machine's measured rates
-- for the BLAS kernel and thread count in use) or 'default' (the model's built-in rates).
function M.crossover_for(rows, cols, n) return call('lotto.sparse.crossover_for', core.crossover_get, rows, cols, n) end

M.machines = core.machine_entries       -- () -> {{blas, threads, dense_ns_per_mac, sparse_scale}}
M.machine_key = core.machine_key        -- () -> this build's key in machines() ('Zen', 'Zen+portable+debug'), scale bound
--- autocalibrate([on]) -> previous: measure this machine's rates on the first auto decision that
-- has none for the BLAS kernel and thread count in use (on by default; LOTTO_CALIBRATE=0 turns it off).
M.autocalibrate = core.autocalibrate
--- calibrate_machine{save = true} -> dense_ns_per_mac, sparse_scale: measure this machine's rates now
-- (a few dozen ms) and record them for the BLAS kernel and thread count in use.
function M.calibrate_machine(opts)
  opts = U.check_options(opts, { save = true }, 'lotto.sparse.calibrate_machine')
  local d, sc = call('lotto.sparse.calibrate_machine', core.calibrate_machine)
  call('lotto.sparse.calibrate_machine', core.machine_set, core.machine_key(), T.get_threads(), d, sc)
  if opts.save ~= false then
    local ok, err = core.cache_save()
    if not ok then U.fail('lotto.sparse.calibrate_machine', err) end
  end
  return d, sc
end

--- set_crossover(rows, cols, n, density[, threads]): a calibrated entry (not saved until save_cache).
function M.set_crossover(rows, cols, n, density, threads)
  call('lotto.sparse.set_crossover', core.crossover_set, rows, cols, n, threads or T.get_threads(), density)
end

M.crossovers = core.crossover_entries   -- () -> {{rows, cols, n, threads, crossover}}
M.clear_crossovers = core.crossover_clear
M.cache_path = core.cache_path          -- () -> path | nil, msg
M.load_cache = core.cache_load          -- ([path]) -> true | nil, msg (merges)
M.save_cache = core.cache_save          -- ([path]) -> true | nil, msg (atomic)

local function set_table(entries, machines)
  core.crossover_clear() -- also stops the cache file from being read later
  for _, e in ipairs(entries) do core.crossover_set(e.rows, e.cols, e.n, e.threads, e.crossover) end
  for _, m in ipairs(machines or {}) do core.machine_set(m.blas, m.threads, m.dense_ns_per_mac, m.sparse_scale) end
end

--- pin(path) -> restore: the crossovers a run decides by. If path exists (a resumed run),
-- its entries and machine rates replace the table in force and nothing is measured while
-- pinned; else the table in force (the machine's cache and, measured now if missing, this
-- machine's rates for the BLAS kernel and thread count in use) is written there. A
-- calibration done between runs then never changes a run's dispatch decisions, hence its
-- numbers. restore() puts the previous table and auto calibration setting back.
function M.pin(path)
  if type(path) ~= 'string' then U.fail('lotto.sparse.pin', 'expected a file path') end
  core.crossover_get(1, 1, 1) -- reads the machine's cache if not read yet, measures the rates if missing
  local before, machines, auto = core.crossover_entries(), core.machine_entries(), core.autocalibrate()
  local function restore()
    set_table(before, machines)
    core.autocalibrate(auto)
  end
  local f = io.open(path, 'rb')
  if f then
    f:close()
    core.crossover_clear()
    core.autocalibrate(false) -- the run's file alone decides, as when it was written
    local ok, err = core.cache_load(path)
    if not ok then
      restore()
      U.fail('lotto.sparse.pin', ('%s: %s (delete it to pin the crossovers in force now)'):format(path, err))
    end
  else
    local ok, err = core.cache_save(path)
    if not ok then U.fail('lotto.sparse.pin', err) end
  end
  return restore
end

local calib_keys = { batch = true, batches = true, reps = true, save = true, densities = true }

--- calibrate_model(model, {batch = 60 | batches = {60, 1000}, reps = 5, save = true, densities = {...}})
-- -> entries: measures, for each prunable layer's product at those batches (times the output
-- pixels for convolutions) and the current thread count, the density below which the sparse
-- kernels win; records them for auto dispatch and, with save, in the cache file.
function M.calibrate_model(model, opts)
  check_model(model, 'calibrate_model')
  opts = U.check_options(opts, calib_keys, 'lotto.sparse.calibrate_model')
  local batches = opts.batches or { opts.batch or 60 }
  local out, seen = {}, {}
  for _, l in ipairs(core.layers(model)) do
    for _, b in ipairs(batches) do
      local n = b * l.pixels
      local key = ('%d,%d,%d'):format(l.rows, l.cols, n)
      if not seen[key] then
        seen[key] = true
        local cross = call('lotto.sparse.calibrate_model', core.calibrate, l.rows, l.cols, n,
          { reps = opts.reps or 5, densities = opts.densities })
        core.crossover_set(l.rows, l.cols, n, T.get_threads(), cross)
        out[#out + 1] = { layer = l.name, rows = l.rows, cols = l.cols, n = n, threads = T.get_threads(), crossover = cross }
      end
    end
  end
  if opts.save ~= false then
    local ok, err = core.cache_save()
    if not ok then U.fail('lotto.sparse.calibrate_model', err) end
  end
  return out
end

-- ---- deployment -------------------------------------------------------------------

--- export(model, path[, metadata]) -> bytes | nil, msg: the pruned model as compact safetensors (kept
-- values F32 plus their positions as U8 gaps or a bitmap, biases and batchnorm dense) with the
-- architecture in the metadata, so load(path) can rebuild it (lt_model_export in C).
function M.export(model, path, metadata)
  check_model(model, 'export')
  if type(path) ~= 'string' then U.fail('lotto.sparse.export', 'path must be a string') end
  if metadata ~= nil and type(metadata) ~= 'table' then U.fail('lotto.sparse.export', 'metadata must be a table') end
  local meta = {}
  for k, v in pairs(metadata or {}) do meta[tostring(k)] = tostring(v) end
  local ok, err = call('lotto.sparse.export', core.export, model, path, meta)
  if not ok then return nil, err end
  local f = io.open(path, 'rb')
  local size = f and f:seek('end')
  if f then f:close() end
  return size
end

local Deployed = {}
Deployed.__index = Deployed

--- net:forward(x) -> y: inference (eval mode) through the sparse kernels where they win.
function Deployed:forward(x) return self._model:forward(x, false) end
--- net:evaluate(ds[, {batch = 1000}]) -> loss, accuracy
function Deployed:evaluate(ds, opts) return self._model:evaluate(ds, opts) end
--- net:evaluate_xy(x, y[, ...]) -> loss, accuracy
function Deployed:evaluate_xy(...) return self._model:evaluate_xy(...) end
--- net:predict(x) -> classes (B): 0-based like the data sets' labels
function Deployed:predict(x) return self._model:forward(x, false):argmax(2) - 1 end
function Deployed:density() return self._model:density() end
function Deployed:layers() return core.layers(self._model) end
function Deployed:input_shape() return self._model:input_shape() end
function Deployed:output_shape() return self._model:output_shape() end
function Deployed:numel(prunable_only) return self._model:numel(prunable_only) end
Deployed.__tostring = function(self)
  return ('sparse model (%s, %.2f%% of the weights kept)\n%s'):format(self.path, 100 * self._model:density(),
    tostring(self._model))
end

--- load(path[, {mode = 'auto'|'dense'|'sparse'}]) -> net | nil, message: rebuilds a model written by
-- export for inference (net:forward, net:evaluate, net:predict). Its weights cannot change, so the
-- sparse layers build their CSR once.
function M.load(path, opts)
  if type(path) ~= 'string' then U.fail('lotto.sparse.load', 'path must be a string') end
  opts = U.check_options(opts, { 'mode' }, 'lotto.sparse.load')
  if opts.mode ~= nil then check_mode(opts.mode, 'lotto.sparse.load') end
  local model, err = core.import(path) -- lt_model_import: layers from the file's architecture, then the weights
  if not model then return nil, err end
  model:eval()
  core.set_layer(model, nil, { frozen = true, mode = opts.mode or 'auto' })
  return setmetatable({ _model = model, path = path }, Deployed)
end

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(M, {
    mode = "mode(['auto'|'dense'|'sparse'|'nm']) -> previous mode: global dispatch of linear/conv2d layers",
    with_mode = 'with_mode(m, f, ...) -> f(...) under mode m, restored afterwards',
    lazy = 'lazy([on]) -> previous: whether training steps may leave the dense buffers of sparse layers behind their compact copies (default true; same results)',
    set_layer = "set_layer(model, name|nil, {mode =, crossover = d|'auto', frozen =}) -> model: per-layer dispatch",
    layers = 'layers(model) -> per prunable layer: density, nnz, crossover, path of the last forward, ...',
    report = 'report(model) -> text table of densities, crossovers and dispatch paths',
    crossover_for = "crossover_for(rows, cols, n) -> density, measured, source ('shape'|'machine'|'default'): the threshold auto uses now",
    machines = 'machines() -> the measured rates {blas, threads, dense_ns_per_mac, sparse_scale} per BLAS kernel and thread count',
    machine_key = 'machine_key() -> key, max_scale: the blas field of this build\'s rates (the BLAS kernel, +portable without AVX2, '
      .. '+debug unoptimised or sanitized) and the largest sparse scale it accepts from a measurement',
    autocalibrate = 'autocalibrate([on]) -> previous: measure the rates on first use for a new BLAS kernel or thread count (default on; LOTTO_CALIBRATE=0 off)',
    calibrate_machine = 'calibrate_machine{save = true} -> dense_ns_per_mac, sparse_scale: measure and record the rates now',
    set_crossover = 'set_crossover(rows, cols, n, density[, threads]): record a calibrated threshold',
    crossovers = 'crossovers() -> the calibrated entries {rows, cols, n, threads, crossover}',
    pin = 'pin(path) -> restore(): a run decides by the crossovers in path (written from the table in force when absent)',
    clear_crossovers = 'clear_crossovers(): forget calibrated entries (the cache file is not read again)',
    cache_path = 'cache_path() -> $LOTTO_CACHE/crossover.json or ~/.cache/lotto/crossover.json',
    load_cache = 'load_cache([path]) -> true | nil, msg: merge a crossover cache',
    save_cache = 'save_cache([path]) -> true | nil, msg: write the calibrated entries',
    calibrate_model = 'calibrate_model(model, {batch = 60 | batches =, reps = 5, save = true}) -> entries: measure crossovers',
    export = 'export(model, path[, metadata]) -> bytes | nil, msg: compact sparse safetensors with the architecture',
    load = "load(path[, {mode =}]) -> net | nil, msg: inference model (net:forward, net:evaluate, net:predict)",
    prefer_sparse = 'prefer_sparse(rows, cols, batch, density[, cross]) -> boolean',
    nm_kernel = "nm_kernel(['auto'|'avx2'|'portable']) -> the n:m forward kernel before the call ('avx2' | 'portable')",
  })
end

return M
