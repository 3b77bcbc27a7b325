-- lotto.nn: layers, models and losses. The numbers live in C (lotto.core.nn);
-- this file turns option tables into constructor calls and adds save/load.
--
--   local nn = lotto.nn
--   local net = nn.sequential{ nn.flatten(), nn.linear(784, 300), nn.relu(), nn.linear(300, 10) }
--   local model = nn.model(net, { input = {1, 28, 28} })   -- checks shapes, names fc1, fc2
--   model:init{ seed = 1, weight = 'glorot_normal' }
--   local loss, correct = model:step_loss(x, y)            -- zero_grad, forward, loss, backward
--
-- A layer is consumed when it is put into a container or a model. model:forward
-- returns a new tensor (safe to keep); model:values()/grads()/masks() and the
-- tensors of model:parameters() share storage with the model.
local core = require 'lotto.core.nn'
local U = require 'lotto.util'
local data = require 'lotto.data'
local io_ = require 'lotto.io'

local nn = {}

local function fail(where, msg) U.fail('lotto.nn.' .. where, msg) end

-- Options table (or nil), checked against the allowed keys.
local function options(o, allowed, where) return U.check_options(o, allowed, 'lotto.nn.' .. where) end

local NAME = { name = true }

--- linear(in, out[, {bias = true, name =}]): y = x W^T + b, W (out, in).
function nn.linear(inp, out, opts)
  opts = options(opts, { bias = true, name = true }, 'linear')
  return core.linear(inp, out, opts.bias ~= false, opts.name)
end

--- conv2d(cin, cout, k[, {stride = 1, padding = 0, bias = true, name =}]): NCHW, W (cout, cin, k, k).
function nn.conv2d(cin, cout, k, opts)
  opts = options(opts, { stride = true, padding = true, bias = true, name = true }, 'conv2d')
  return core.conv2d(cin, cout, k, opts.stride or 1, opts.padding or 0, opts.bias ~= false, opts.name)
end

--- dwconv2d(channels, k[, {stride = 1, padding = 0, bias = true, name =}]): depthwise (one k x k filter per channel), W (C, 1, k, k).
function nn.dwconv2d(c, k, opts)
  opts = options(opts, { stride = true, padding = true, bias = true, name = true }, 'dwconv2d')
  return core.dwconv2d(c, k, opts.stride or 1, opts.padding or 0, opts.bias ~= false, opts.name)
end

local function pool(ctor, where)
  return function(k, stride, opts)
    if type(stride) == 'table' then stride, opts = nil, stride end
    opts = options(opts, { stride = true, name = true }, where)
    return ctor(k, stride or opts.stride, opts.name)
  end
end
--- maxpool2d(k[, stride = k][, {name =}]) and avgpool2d(k[, stride = k][, {name =}]): no padding.
nn.maxpool2d = pool(core.maxpool2d, 'maxpool2d')
nn.avgpool2d = pool(core.avgpool2d, 'avgpool2d')

--- global_avgpool([{name =}]): (B, C, H, W) -> (B, C).
function nn.global_avgpool(opts) return core.global_avgpool(options(opts, NAME, 'global_avgpool').name) end
--- relu([{name =}])
function nn.relu(opts) return core.relu(options(opts, NAME, 'relu').name) end
--- flatten([{name =}]): (B, ...) -> (B, prod(...)).
function nn.flatten(opts) return core.flatten(options(opts, NAME, 'flatten').name) end
--- batchnorm(n[, {name =}]): over channels of (B, n) or (B, n, H, W); momentum 0.1, eps 1e-5.
function nn.batchnorm(n, opts) return core.batchnorm(n, options(opts, NAME, 'batchnorm').name) end
--- dropout(p[, {seed = 0, name =}]): inverted dropout with its own seeded generator.
function nn.dropout(p, opts)
  opts = options(opts, { seed = true, name = true }, 'dropout')
  return core.dropout(p, opts.seed or 0, opts.name)
end

--- sequential{layer, ..., name = 'layer1'}: layers in order; a name scopes its children.
function nn.sequential(list)
  if type(list) ~= 'table' then fail('sequential', ('expected a table of layers (got %s)'):format(type(list))) end
  for k in pairs(list) do
    if k ~= 'name' and math.type(k) ~= 'integer' then
      fail('sequential', ("unknown option '%s'%s"):format(tostring(k), U.did_you_mean(k, { 'name' })))
    end
  end
  return core.sequential(list, list.name)
end

--- concat(body[, {name =}]): cat(x, body(x)) along channels (a DenseNet layer).
function nn.concat(body, opts)
  opts = options(opts, NAME, 'concat')
  return core.concat(body, opts.name)
end

--- residual(body[, shortcut][, {name =}]): relu(body(x) + shortcut(x)); no shortcut = identity.
function nn.residual(body, shortcut, opts)
  if type(shortcut) == 'table' and not core.is_layer(shortcut) then shortcut, opts = nil, shortcut end
  opts = options(opts, NAME, 'residual')
  return core.residual(body, shortcut, opts.name)
end

--- gcn(graph, in, out[, {bias = true, dropout = 0, seed = 0, name =}]): y = D^-1/2 (A + I) D^-1/2 (x' W^T) + b
--- over the graph's nodes (the batch is the node set: x (nodes, in)); W (out, in) prunable; x' = x under
--- input dropout (training only; on sparse features drawn per nonzero, far cheaper than nn.dropout before it).
-- The input dropout options of a graph layer, checked by name.
local function graph_dropout(opts, where)
  local p, seed = opts.dropout, opts.seed
  if p ~= nil and not (type(p) == 'number' and p >= 0 and p < 1) then
    fail(where, ("option 'dropout' must be a number in [0, 1) (got %s)"):format(tostring(p)))
  end
  if seed ~= nil and math.type(seed) ~= 'integer' then
    fail(where, ("option 'seed' must be an integer (got %s)"):format(tostring(seed)))
  end
end

function nn.gcn(g, inp, out, opts)
  opts = options(opts, { bias = true, dropout = true, seed = true, name = true }, 'gcn')
  graph_dropout(opts, 'gcn')
  return core.gcn(g, inp, out, opts.bias ~= false, opts.dropout, opts.seed, opts.name)
end
--- gat(graph, in, out[, {heads = 1, concat = true, dropout = 0, seed = 0, name =}]): multi-head graph attention
--- over the kept edges and self-loops; heads concatenated (nodes, heads * out) or averaged (nodes, out);
--- input dropout as gcn's.
function nn.gat(g, inp, out, opts)
  opts = options(opts, { heads = true, concat = true, dropout = true, seed = true, name = true }, 'gat')
  graph_dropout(opts, 'gat')
  return core.gat(g, inp, out, opts.heads or 1, opts.concat ~= false, opts.dropout, opts.seed, opts.name)
end
--- gin(graph, in, hidden, out[, {name =}]): z = (1 + eps) x + sum of neighbours (edge-weighted),
--- y = relu(z W1^T + b1) W2^T + b2; eps trainable, starts at 0.
function nn.gin(g, inp, hidden, out, opts)
  return core.gin(g, inp, hidden, out, options(opts, NAME, 'gin').name)
end

--- model(net, {input = {C, H, W}}): builds (checks shapes, names layers, allocates buffers).
function nn.model(net, opts)
  opts = options(opts, { input = true }, 'model')
  if type(opts.input) ~= 'table' then fail('model', 'option input = {C, H, W} (the per-sample shape) is required') end
  return core.model(net, opts.input)
end

-- ---- architecture as data --------------------------------------------------------

--- arch(model | layer) -> table: the layer tree as each layer describes its settings,
-- {kind = 'sequential', children = {{kind = 'linear', ['in'] = 784, out = 300, bias = true}, ...}},
-- with name = for names given by the user. JSON-safe; from_arch rebuilds it.
function nn.arch(m)
  if not core.is_model(m) and not core.is_layer(m) then
    fail('arch', ('expected a model or a layer (got %s)'):format(type(m)))
  end
  return core.arch(m)
end

--- from_arch(t) -> layer: a new (untrained) layer tree from an arch table (any registered kind;
-- missing settings take the constructors' defaults). nn.model(nn.from_arch(t), {input = ...}).
function nn.from_arch(t)
  if type(t) ~= 'table' then fail('from_arch', ('expected an arch table (got %s)'):format(type(t))) end
  local ok, layer = pcall(core.from_arch, t)
  if not ok then error('lotto.nn.' .. tostring(layer):gsub('^[^:]*:%d+: ', ''), 2) end
  return layer
end

nn.cross_entropy = core.cross_entropy
nn.mse = core.mse
nn.is_model = core.is_model
nn.is_layer = core.is_layer

--- winograd([on[, tile]]) -> on, tile before: dense 3x3, stride-1, padding-1 convolutions with 64+
-- channels in and out run their forward, input and weight gradients by Winograd F(2x2, 3x3)
-- (fewer multiply-adds; results differ from the GEMM path by float rounding). On by default;
-- winograd(false) for the GEMM path (a comparison, or an older run's rounding). tile 4 also runs
-- F(4x4, 3x3) for the forward and input gradient where rows of 4x4 tiles fill whole vectors
-- (28x28, 32x32): fewer multiply-adds again, about 16x F(2x2)'s rounding error; 2 (default): F(2x2) only.
nn.winograd = core.winograd

-- ---- save / load through lotto.io (safetensors) --------------------------------

local M = core.model_methods

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

local function shape_str(s) return '(' .. table.concat(s, ', ') .. ')' end

--- model:save(path[, metadata]): values as "fc1.weight", masks as "fc1.weight.mask" (U8),
-- batchnorm statistics as "bn1.running_mean". Atomic. Returns true, or nil, message when
-- the file cannot be written.
function M.save(model, path, metadata)
  if type(path) ~= 'string' then U.raise("bad argument #1 to 'save' (path expected)") end
  local tensors, dtypes = {}, {}
  for _, p in ipairs(model:parameters()) do
    tensors[p.name] = p.value
    if p.prunable then
      tensors[p.name .. '.mask'] = p.mask
      dtypes[p.name .. '.mask'] = 'U8'
    end
  end
  for _, b in ipairs(model:buffers()) do tensors[b.name] = b.value end
  local meta = {}
  for k, v in pairs(metadata or {}) do meta[tostring(k)] = tostring(v) end
  meta.format = meta.format or 'lotto.model'
  return io_.save(path, tensors, { dtypes = dtypes, metadata = meta })
end

--- model:load(path) -> model, or nil, message: every parameter must be in the file with its
-- shape; masks and batchnorm statistics are loaded when present. Pruned weights end at zero.
function M.load(model, path)
  if type(path) ~= 'string' then U.raise("bad argument #1 to 'load' (path expected)") end
  local t, err = io_.load(path)
  if not t then return nil, err end
  local params, buffers = model:parameters(), model:buffers()
  -- check everything before writing anything
  local function check(name, want)
    local v = t[name]
    if v == nil then return nil end
    if not same_shape(v:shape(), want) then
      return false, ('%s: %s has shape %s but the model expects %s'):format(path, name, shape_str(v:shape()), shape_str(want))
    end
    return true
  end
  for _, p in ipairs(params) do
    local ok, e = check(p.name, p.shape)
    if ok == nil then return nil, ('%s: no tensor "%s" in the file'):format(path, p.name) end
    if not ok then return nil, e end
    if p.prunable then
      ok, e = check(p.name .. '.mask', p.shape)
      if ok == false then return nil, e end
    end
  end
  for _, b in ipairs(buffers) do
    local ok, e = check(b.name, b.shape)
    if ok == false then return nil, e end
  end
  for _, p in ipairs(params) do
    p.value:copy(t[p.name])
    if p.prunable and t[p.name .. '.mask'] then p.mask:copy(t[p.name .. '.mask']) end
  end
  for _, b in ipairs(buffers) do
    if t[b.name] then b.value:copy(t[b.name]) end
  end
  model:apply_mask()
  return model
end

-- ---- batchnorm running statistics ------------------------------------------------

--- bn_buffers(model) -> {{name = layer, mean = tensor, var = tensor}}: the running
-- statistics of the model's batchnorm layers (views: writing them changes the model).
function nn.bn_buffers(model)
  local list, by = {}, {}
  for _, b in ipairs(model:buffers()) do
    local layer, what = b.name:match('^(.*)%.running_(%a+)$')
    if layer then
      if not by[layer] then by[layer] = { name = layer }; list[#list + 1] = by[layer] end
      by[layer][what] = b.value
    end
  end
  local out = {}
  for _, p in ipairs(list) do if p.mean and p.var then out[#out + 1] = p end end
  return out
end

--- clear_bn_stats(model) -> model: every running statistic back to its initial value
-- (mean 0, var 1), so a rewound network starts from the same state whether or not the
-- run was resumed.
function nn.clear_bn_stats(model)
  if not core.is_model(model) then fail('clear_bn_stats', 'expected a model') end
  for _, b in ipairs(model:buffers()) do b.value:fill(b.name:match('running_var$') and 1 or 0) end
  return model
end

--- reset_bn_stats(model, ds, {batches = 10, batch = 100, seed = 1}) -> number of batches used.
-- Recomputes the batchnorm running statistics of the model's current weights as the
-- plain average of the batch statistics of `batches` training batches (PyTorch's
-- momentum = None), by forward passes in training mode without gradient steps.
-- The engine keeps an exponential average with a fixed momentum; it is measured
-- here (one extra forward pass) rather than assumed, then undone batch by batch:
-- with the buffers zeroed before a pass, the pass leaves momentum * (batch statistic).
-- Dropout layers draw masks during these passes, as they would in training.
function nn.reset_bn_stats(model, ds, opts)
  local where = 'lotto.nn.reset_bn_stats'
  if not core.is_model(model) then U.fail(where, 'expected a model') end
  if not U.is_dataset(ds) then U.fail(where, 'expected a training data set (lotto.data)') end
  opts = U.check_options(opts, { 'batches', 'batch', 'seed' }, where)
  local nb = U.int_opt(opts, 'batches', 10, 1, where)
  local batch = U.int_opt(opts, 'batch', 100, 1, where)
  local bufs = nn.bn_buffers(model)
  if #bufs == 0 then return 0 end
  local was_training = model:is_training()
  local loader = data.loader(ds, { batch = math.min(batch, ds:size()), seed = opts.seed or 1 })
  local acc = {}
  for i, b in ipairs(bufs) do acc[i] = { mean = b.mean:clone():fill(0), var = b.var:clone():fill(0) } end
  -- Measure the momentum: buffer 1 before the pass gives (1 - m) + m * mean, buffer 0 gives m * mean.
  local xb = loader:next()
  for _, b in ipairs(bufs) do b.mean:fill(1) end
  model:forward(xb, true)
  local ones = bufs[1].mean:clone()
  local used = 0
  local momentum
  while used < nb do
    if used > 0 then
      xb = loader:next()
      if xb == nil then break end -- fewer batches than asked in one epoch: use what there is
    end
    for _, b in ipairs(bufs) do b.mean:fill(0); b.var:fill(0) end
    model:forward(xb, true)
    if not momentum then
      momentum = 1 - (ones:sub(bufs[1].mean)):mean()
      if not (momentum > 1e-6 and momentum <= 1) then
        U.fail(where, ('could not measure the batchnorm momentum (got %s)'):format(tostring(momentum)))
      end
    end
    for i, b in ipairs(bufs) do acc[i].mean:add_(b.mean); acc[i].var:add_(b.var) end
    used = used + 1
  end
  local scale = 1 / (momentum * used)
  for i, b in ipairs(bufs) do
    b.mean:copy(acc[i].mean:mul(scale))
    b.var:copy(acc[i].var:mul(scale))
  end
  if was_training then model:train() else model:eval() end
  return used
end

M.bn_buffers, M.clear_bn_stats, M.reset_bn_stats = nn.bn_buffers, nn.clear_bn_stats, nn.reset_bn_stats

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(nn, {
    linear = 'linear(in, out[, {bias = true, name =}]) -> layer: y = x W^T + b, W (out, in)',
    conv2d = 'conv2d(cin, cout, k[, {stride = 1, padding = 0, bias = true, name =}]) -> layer: NCHW, W (cout, cin, k, k)',
    maxpool2d = 'maxpool2d(k[, stride = k][, {name =}]) -> layer: max over k x k windows, no padding',
    avgpool2d = 'avgpool2d(k[, stride = k][, {name =}]) -> layer: mean over k x k windows, no padding',
    global_avgpool = 'global_avgpool([{name =}]) -> layer: (B, C, H, W) -> (B, C)',
    relu = 'relu([{name =}]) -> layer: max(x, 0)',
    flatten = 'flatten([{name =}]) -> layer: (B, ...) -> (B, prod(...))',
    batchnorm = 'batchnorm(n[, {name =}]) -> layer: over channels of (B, n) or (B, n, H, W); momentum 0.1, eps 1e-5',
    dropout = 'dropout(p[, {seed = 0, name =}]) -> layer: inverted dropout in training, identity in eval',
    sequential = "sequential{layer, ..., name = 'layer1'} -> layer: in order; takes the layers; a name prefixes its children",
    residual = 'residual(body[, shortcut][, {name =}]) -> layer: relu(body(x) + shortcut(x)); no shortcut = identity',
    dwconv2d = 'dwconv2d(channels, k[, {stride = 1, padding = 0, bias = true, name =}]) -> layer: depthwise conv, W (C, 1, k, k)',
    concat = 'concat(body[, {name =}]) -> layer: cat(x, body(x)) along channels (a DenseNet layer)',
    model = 'model(net, {input = {C, H, W}}) -> model: checks shapes, names parameters (fc1.weight, ...), allocates',
    cross_entropy = 'cross_entropy(logits (B, C), labels (B)) -> loss, dlogits, ncorrect: mean softmax cross-entropy',
    mse = 'mse(pred, target) -> loss, dpred: mean squared error over all elements',
    is_model = 'is_model(x) -> boolean',
    is_layer = 'is_layer(x) -> boolean',
    winograd = 'winograd([on[, tile]]) -> on, tile before: Winograd F(2x2, 3x3) for dense 3x3, stride-1, padding-1 '
      .. 'convs with 64+ channels (default on; false: the GEMM path); tile 4 adds F(4x4, 3x3) where it fits (default 2)',
    arch = 'arch(model | layer) -> table: the layer tree with each layer\'s settings (kind, in, out, k, ...; children)',
    from_arch = 'from_arch(t) -> layer: rebuilds a layer tree from an arch table (untrained)',
    bn_buffers = 'bn_buffers(model) or m:bn_buffers() -> {{name, mean, var}}: the batchnorm running statistics (views)',
    clear_bn_stats = 'clear_bn_stats(model) or m:clear_bn_stats() -> model: running statistics back to mean 0, var 1',
    reset_bn_stats = 'reset_bn_stats(model, ds[, {batches = 10, batch = 100, seed = 1}]) or m:reset_bn_stats(ds[, opts]) '
      .. '-> batches used: statistics recomputed as the plain average over training batches',
  })
  help.register(M, {
    save = 'm:save(path[, metadata]) -> true | nil, msg: values, U8 masks ("fc1.weight.mask") and batchnorm statistics as safetensors',
    load = 'm:load(path) -> m, or nil, message: loads a file written by m:save (shapes checked first)',
  })
end

return nn
