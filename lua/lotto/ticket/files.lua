-- lotto.ticket.files: a replicate's ticket files and reading them back. Every file is
-- safetensors keyed by parameter name ("fc1.weight") with the flat layout in its
-- metadata: replicate_<seed>/init.safetensors (θ0), rewind.safetensors (θk),
-- round_<k>/{mask,final}.safetensors (the mask trained in round k and the ticket's
-- trained weights), so a ticket opens in Python and transfers to another model.
local E = require 'lotto.experiment'
local io_ = require 'lotto.io'
local json = require 'lotto.json'
local tensor = require 'lotto.tensor'
local U = require 'lotto.util'

local M = {}

local function bad(msg) U.fail('lotto.ticket', msg) end

-- {name = tensor} views of a flat values-shaped tensor, one per parameter.
function M.named(model, flat, prunable_only)
  local out = {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable or not prunable_only then out[p.name] = flat:narrow(1, p.offset + 1, p.numel):reshape(p.shape) end
  end
  return out
end

-- A flat values-shaped tensor from named tensors; `base` (flat) fills what `named` lacks
-- when `partial` is set, else a missing or mis-shaped name is nil, message.
local function flatten_named(model, named, base, partial)
  local flat = base and base:clone() or model:state()
  for _, p in ipairs(model:parameters()) do
    local t = named[p.name]
    if t == nil then
      if not partial then return nil, ("no tensor '%s'"):format(p.name) end
    elseif t:numel() ~= p.numel then
      if not partial then return nil, ("'%s' has %d values, the model has %d"):format(p.name, t:numel(), p.numel) end
    else
      flat:narrow(1, p.offset + 1, p.numel):copy(t:contiguous():reshape { p.numel })
    end
  end
  return flat
end

-- Metadata of every file: the flat layout (name, 0-based offset, numel per parameter),
-- so that M.load can rebuild flat tensors without the model.
local function layout(model)
  local l = {}
  for _, p in ipairs(model:parameters()) do l[#l + 1] = { p.name, p.offset, p.numel } end
  return { format = 'lotto.ticket', layout = json.encode(l), numel = tostring(model:values():numel()) }
end

-- The driver's writes: a failure stops the run (raises with the file system's message).
function M.save_values(path, model, flat) assert(io_.save(path, M.named(model, flat), { metadata = layout(model) })) end

function M.save_mask(path, model)
  local t, dt = {}, {}
  for _, p in ipairs(model:parameters()) do
    if p.prunable then t[p.name], dt[p.name] = p.mask, 'U8' end
  end
  assert(io_.save(path, t, { dtypes = dt, metadata = layout(model) }))
end

-- Mask values must be 0 or 1 (v * v == v holds for nothing else); returns the name of a
-- tensor that breaks it, or nil.
local function bad_mask(named)
  for name, t in pairs(named) do
    if t:numel() > 0 and t:mul(t):sub(t):abs():max() ~= 0 then return name end
  end
end
M.bad_mask = bad_mask

-- A file's layout checked against its tensors, before anything is allocated from it:
-- entries {name, offset, numel} tile [0, numel) in order, each tensor of the file is an
-- entry of that size, and (complete) every entry has its tensor. Returns the layout
-- string and numel, or nil, message.
local function check_layout(named, meta, complete)
  local ok, l = pcall(json.decode, type(meta) == 'table' and meta.layout or '')
  if not ok or type(l) ~= 'table' then return nil, 'no lotto.ticket layout in its metadata' end
  local seen, off = {}, 0
  for i, e in ipairs(l) do
    if type(e) ~= 'table' or type(e[1]) ~= 'string' or math.type(e[2]) ~= 'integer' or math.type(e[3]) ~= 'integer'
        or e[2] ~= off or e[3] < 0 then
      return nil, ('layout entry %d is not {name, offset, numel} following the one before'):format(i)
    end
    local t = named[e[1]]
    if t == nil and complete then return nil, ("no tensor '%s' (in its layout)"):format(e[1]) end
    if t ~= nil and t:numel() ~= e[3] then
      return nil, ("'%s' has %d values, its layout says %d"):format(e[1], t:numel(), e[3])
    end
    seen[e[1]] = true
    off = off + e[3]
  end
  if math.tointeger(tonumber(meta.numel)) ~= off then
    return nil, ('numel %s does not match its layout (%d values)'):format(tostring(meta.numel), off)
  end
  for name in pairs(named) do
    if not seen[name] then return nil, ("tensor '%s' is not in its layout"):format(name) end
  end
  return meta.layout, off
end

-- The flat tensor of named tensors read from a file written above (layout checked);
-- `fill` for the parameters the file lacks (1 for masks: biases are never pruned).
local function flat_of(named, meta, fill)
  local l = json.decode(meta.layout)
  local flat = tensor.full({ math.tointeger(tonumber(meta.numel)) }, fill)
  for _, e in ipairs(l) do
    local t = named[e[1]]
    if t then flat:narrow(1, e[2] + 1, e[3]):copy(t:contiguous():reshape { e[3] }) end
  end
  return flat
end

-- A file of a run being resumed: unreadable means the run is damaged (raises).
function M.load_file(path)
  local t, err = io_.load(path, { u8 = 'strict' })
  if not t then bad(('cannot read %s: %s (delete the run or use restart = true)'):format(path, err)) end
  return t
end

function M.load_values(path, model)
  local flat, err = flatten_named(model, M.load_file(path))
  if not flat then bad(('%s: %s'):format(path, err)) end
  return flat
end

-- Sets the model's masks from named masks (prunable parameters only).
function M.set_masks(model, named, where)
  local b = bad_mask(named)
  if b then
    bad(("%s: mask '%s' holds values other than 0 and 1 (delete that round's directory to redo it, or restart = true)")
      :format(where, b))
  end
  for _, p in ipairs(model:parameters()) do
    if p.prunable then
      local m = named[p.name]
      if m == nil or m:numel() ~= p.numel then
        bad(("%s: no mask of %d values for '%s' (delete that round's directory to redo it, or restart = true)"):format(
          where, p.numel, p.name))
      end
      p.mask:copy(m:contiguous():reshape(p.shape))
    end
  end
  model:apply_mask()
end

-- The ticket of round k of a stored run: flat tensors in the layout of model:values()
-- (mask, init = θ0, rewind = θk, final = the trained ticket), the same by parameter name
-- in named = {mask =, init =, rewind =, final =}, and summary, config, rewind_iter;
-- nil, message if absent or unreadable.
function M.load(dir, seed, k)
  if type(dir) ~= 'string' then U.raise("bad argument #1 to 'load' (run directory expected)") end
  U.check_seed(seed, 'load', 2)
  U.check_seed(k, 'load', 3)
  local run, err = E.load(dir)
  if not run then return nil, err end
  if not run:round_done(seed, k) then
    return nil, ('%s has no completed round %d for seed %d (seeds: %s)'):format(dir, k, seed,
      table.concat(run:replicates(), ', '))
  end
  -- init.safetensors holds every parameter: the other files must have its layout, so
  -- nothing is allocated from sizes that no file backs.
  local named, flat, want = {}, {}, nil
  local rd = run:replicate_dir(seed)
  for _, f in ipairs {
    { 'init', rd .. '/init.safetensors', 0, true },
    { 'mask', run:round_path(seed, k) .. '/mask.safetensors', 1, false },
    { 'rewind', rd .. '/rewind.safetensors', 0, true },
    { 'final', run:round_path(seed, k) .. '/final.safetensors', 0, true },
  } do
    local t, meta = io_.load(f[2], { u8 = 'strict' })
    if not t then return nil, ('lotto.ticket.load: %s'):format(meta) end
    local l, lerr = check_layout(t, meta, f[4])
    if l and want and l ~= want then l, lerr = nil, ('its layout differs from %s/init.safetensors'):format(rd) end
    if l and f[1] == 'mask' then
      local b = bad_mask(t)
      if b then l, lerr = nil, ("mask '%s' holds values other than 0 and 1"):format(b) end
    end
    if not l then return nil, ('lotto.ticket.load: %s: %s'):format(f[2], lerr) end
    want = want or l
    named[f[1]], flat[f[1]] = t, flat_of(t, meta, f[3])
  end
  local summary, serr = run:load_summary(seed, k)
  if not summary then return nil, ('lotto.ticket.load: %s'):format(serr) end
  return { mask = flat.mask, init = flat.init, rewind = flat.rewind, final = flat.final, named = named,
           summary = summary, config = run.config, rewind_iter = run.config.rewind or 0 }
end

return M
