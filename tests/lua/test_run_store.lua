-- test_run_store.lua: what the run store must never do (issue 13). A directory that is
-- not a run is never removed or written into; one process at a time holds a run (a
-- second `lotto` on the same run is refused, naming the holder's pid, and the first
-- one's results.json is byte-identical to a lone run); stale temp files of killed
-- writers go when the run is opened; damaged summaries and masks are reported with the
-- file and the fix; ticket.load allocates nothing that the files do not back.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local T = require 'check'
local tensor, nn, data, prune, ticket, io_ = lotto.tensor, lotto.nn, lotto.data, lotto.prune, lotto.ticket, lotto.io
local E, fs, json, sys = lotto.experiment, lotto.fs, lotto.json, require 'lotto.sys'

local ROOT = (os.getenv('LOTTO_TEST_TMP') or '/tmp') .. '/test_run_store'
local ITERS = os.getenv('LOTTO_ASAN') and 30 or 60

local function blobs(n, seed)
  local x = tensor.randn({ n, 5 }, seed)
  local y = tensor.zeros { n }
  for i = 1, n do y:set(i, (x:get(i, 1) > 0 and 1 or 0) + (x:get(i, 2) > 0 and 1 or 0)) end
  return data.from_tensors(x, y, { classes = 3 })
end

local function mlp()
  return nn.model(nn.sequential { nn.linear(5, 16), nn.relu(), nn.linear(16, 3) }, { input = { 5 } })
end

-- A tiny IMP run; `model` may wrap the builder (the two-process test blocks in it).
local function config(root, name, model)
  return {
    name = name, root = root, rounds = 2, seeds = { 1 }, verbose = false, plots = false,
    model = model or mlp,
    data = function() return { train = blobs(200, 1), val = blobs(60, 2), test = blobs(60, 3) } end,
    optimizer = { kind = 'adam', lr = 1e-2 }, batch = 20, iterations = ITERS, eval_every = 20, eval_batch = 60,
    controls = { 'reinit' },
    prune = function(model) prune.magnitude(model, { rate = 0.5, output_rate = 0.2 }) end,
  }
end

local function slurp(p) return io_.read_file(p) end
local function spit(p, s) assert(io_.write_atomic(p, s)) end
local function wait_for(path, seconds)
  local t0 = sys.now()
  while not fs.exists(path) do
    if sys.now() - t0 > seconds then return false end
    os.execute('sleep 0.05')
  end
  return true
end

-- ---- the child processes of the two-process test ------------------------------------
-- A: blocks in its first replicate (after the run is opened and locked) until B is done.
-- B: the same run started again (with restart = true when LOTTO_STORE_RESTART is set).
local role = os.getenv('LOTTO_STORE_ROLE')
if role then
  local root, sync = os.getenv('LOTTO_STORE_ROOT'), os.getenv('LOTTO_STORE_SYNC')
  local blocked = false
  local cfg = config(root, 'twice', function()
    if role == 'A' and not blocked and fs.exists(root .. '/twice/lock') then -- the run is open and locked
      blocked = true
      spit(sync .. '/A_started', tostring(sys.pid()))
      if not wait_for(sync .. '/B_done', 120) then os.exit(3) end
    end
    return mlp()
  end)
  cfg.restart = os.getenv('LOTTO_STORE_RESTART') == '1'
  ticket.imp(cfg)
  os.exit(0)
end

assert(fs.remove_tree(ROOT))
assert(fs.mkdir_p(ROOT))

-- ---- 1. a directory that is not a run is never deleted -----------------------------
do
  local victim = ROOT .. '/home/victim'
  assert(fs.mkdir_p(victim))
  spit(victim .. '/thesis.tex', 'x')
  for _, restart in ipairs { false, true } do
    local cfg = config(ROOT .. '/home', 'victim')
    cfg.restart = restart
    T.checkerror(function() ticket.imp(cfg) end, "'" .. victim .. "' exists and is not a lotto run (it has no config.json)")
    T.check_eq(slurp(victim .. '/thesis.tex'), 'x', 'thesis.tex survives ticket.imp with restart = ' .. tostring(restart))
    T.check_eq(fs.listdir(victim), { 'thesis.tex' }, 'nothing written into the foreign directory')
  end
  -- a config.json lotto did not write (no format tag) does not make a run
  spit(victim .. '/config.json', '{"name": "victim"}')
  T.checkerror(function() E.open { root = ROOT .. '/home', name = 'victim', restart = true } end, 'no _format')
  T.check_eq(slurp(victim .. '/thesis.tex'), 'x', 'a foreign config.json does not make a run')
  T.checkerror(function() E.open { root = 7, name = 'x' } end, 'root must be a non-empty string')
  -- an empty directory (or one lotto only locked) may become a run
  assert(fs.mkdir_p(ROOT .. '/home/empty'))
  local run = assert(E.open { root = ROOT .. '/home', name = 'empty', restart = true })
  T.check(json.read(run.dir .. '/config.json')._format == E.FORMAT, 'config.json carries the format tag')
  T.check(run.config._format == nil, 'the tag is not part of run.config')
  run:close()
end

-- ---- 2. one process per run: in this process ---------------------------------------
do
  local run = assert(E.open { root = ROOT, name = 'locked' })
  local again, err = E.open { root = ROOT, name = 'locked' }
  T.check(again == nil and err and err:find('locked by process ' .. sys.pid(), 1, true), 'second open refused: ' .. tostring(err))
  local r2, err2 = E.open { root = ROOT, name = 'locked', restart = true }
  T.check(r2 == nil and err2 and err2:find('locked by process'), 'restart of a held run refused too')
  T.check(fs.exists(run.dir .. '/config.json'), 'the refused restart removed nothing')
  run:close()
  local r3 = E.open { root = ROOT, name = 'locked' }
  T.check(r3 ~= nil, 'open after close')
  r3:close()
  local l = assert(fs.lock(ROOT .. '/a.lock'))
  T.check_eq(slurp(ROOT .. '/a.lock'), sys.pid() .. '\n', 'the lock file holds the pid')
  T.check(l:held(), 'held')
  l:close()
  T.check(not l:held() and fs.lock(ROOT .. '/a.lock') ~= nil, 'released by close')
  T.checkerror(function() fs.lock({}) end, 'string expected')
  -- released by the garbage collector, and by the kernel when the holder is killed
  do local _ = assert(fs.lock(ROOT .. '/gc.lock')) end
  collectgarbage()
  collectgarbage()
  local g = fs.lock(ROOT .. '/gc.lock')
  T.check(g ~= nil, 'released by the collector')
  if g then g:close() end
  local exe = arg[-1] or 'lotto'
  local code = ("local l = assert(lotto.fs.lock('%s/killed.lock')) io.open('%s/killed.ready', 'w'):close() "
    .. "io.popen('kill -9 ' .. require('lotto.sys').pid()):close() while true do end"):format(ROOT, ROOT)
  local ok9, how9, code9 = os.execute(("'%s' -e \"%s\" >/dev/null 2>&1"):format(exe, code))
  T.check(not ok9 and (how9 == 'signal' and code9 == 9 or code9 == 128 + 9) and fs.exists(ROOT .. '/killed.ready'),
    ('the holder was killed with SIGKILL (%s %s)'):format(how9, code9))
  local k9 = fs.lock(ROOT .. '/killed.lock')
  T.check(k9 ~= nil, 'a lock of a killed process is free')
  if k9 then k9:close() end
  local nl, nerr = fs.lock(ROOT .. '/no/such/dir/lock')
  T.check(nl == nil and nerr:find('cannot open the lock'), 'lock in a missing directory: nil, message')
end

-- ---- 2. one process per run: two `lotto` processes ----------------------------------
do
  local exe, script = arg[-1] or 'lotto', arg[0]
  local lone = ROOT .. '/lone'
  ticket.imp(config(lone, 'twice'))
  local want = slurp(lone .. '/twice/results.json')
  local root, sync = ROOT .. '/two', ROOT .. '/sync'
  assert(fs.mkdir_p(sync))
  local env = ("LOTTO_STORE_ROOT='%s' LOTTO_STORE_SYNC='%s'"):format(root, sync)
  os.execute(("(%s LOTTO_STORE_ROLE=A '%s' '%s' >'%s/A.out' 2>&1; echo $? >'%s/A_rc') &"):format(env, exe, script,
    sync, sync))
  T.check(wait_for(sync .. '/A_started', 120), 'process A started its first round')
  local pid = slurp(sync .. '/A_started')
  for _, restart in ipairs { '0', '1' } do
    local ok, how, code = os.execute(("%s LOTTO_STORE_ROLE=B LOTTO_STORE_RESTART=%s '%s' '%s' >'%s/B.out' 2>&1"):format(
      env, restart, exe, script, sync))
    local out = slurp(sync .. '/B.out') or ''
    T.check(not ok and how == 'exit' and code ~= 0, 'the second process exits non-zero (restart = ' .. restart .. ')')
    T.check(out:find('locked by process ' .. tostring(pid), 1, true), 'its message names the holder: ' .. out:sub(1, 300))
  end
  spit(sync .. '/B_done', '')
  T.check(wait_for(sync .. '/A_rc', 120), 'process A finished')
  T.check_eq(slurp(sync .. '/A_rc'), '0\n', 'process A succeeded: ' .. (slurp(sync .. '/A.out') or ''):sub(1, 300))
  T.check_eq(slurp(root .. '/twice/results.json'), want, "A's results.json is byte-identical to a lone run")
  -- and once A is gone, a resume of its run is allowed and changes nothing
  ticket.imp(config(root, 'twice'))
  T.check_eq(slurp(root .. '/twice/results.json'), want, 'resumed after A: identical')
end

-- ---- 7. temp files of killed writers are removed when the run is opened ------------
do
  local dir = ROOT .. '/lone/twice'
  local stale = { dir .. '/results.json.tmp.999999', dir .. '/replicate_1/init.safetensors.tmp.4242',
                  dir .. '/replicate_1/round_1/summary.json.tmp.77' }
  for _, p in ipairs(stale) do spit(p, 'half') end
  spit(dir .. '/notes.tmp', 'mine')
  local run = assert(E.open { root = ROOT .. '/lone', name = 'twice', config = assert(E.load(dir)).config })
  for _, p in ipairs(stale) do T.check(not fs.exists(p), 'stale temp file removed: ' .. p) end
  T.check(fs.exists(dir .. '/notes.tmp'), 'other files stay')
  run:close()
end

-- ---- 9. damaged run files are reported with the file and the fix -------------------
do
  local src = ROOT .. '/lone/twice'
  for i, bad in ipairs { '{}', '[1,2]', 'null', '{"round": 1, "density": "x", "runs": {}}',
                         '{"round": 1, "density": 0.5, "runs": {"ticket": {"acc": "high"}}}', '{"round": 1, "dens' } do
    local root = ROOT .. '/damaged' .. i
    assert(fs.mkdir_p(root))
    assert(os.execute(("cp -r '%s' '%s/'"):format(src, root)))
    local p = root .. '/twice/replicate_1/round_1/summary.json'
    spit(p, bad)
    local ok, err = pcall(ticket.imp, config(root, 'twice'))
    T.check(not ok and tostring(err):find(p .. ' is damaged', 1, true) and tostring(err):find('restart = true', 1, true),
      'summary ' .. bad .. ': ' .. tostring(err):sub(1, 200))
    local r, lerr = E.load(root .. '/twice')
    T.check(r == nil and lerr:find('is damaged'), 'E.load reports it too')
    local l = fs.lock(root .. '/twice/lock')
    T.check(l ~= nil, 'the failed ticket.imp released the run lock')
    if l then l:close() end
  end
  -- a mask byte flipped from 0 to 7 (the mask of round 2 is read to prune round 3)
  local root = ROOT .. '/flipped'
  assert(fs.mkdir_p(root))
  assert(os.execute(("cp -r '%s' '%s/'"):format(src, root)))
  local mp = root .. '/twice/replicate_1/round_2/mask.safetensors'
  local t, meta = io_.load(mp)
  local name
  for k, v in pairs(t) do if prune.count(v) < v:numel() then name = k end end
  local bytes = slurp(mp) -- lotto writes 0/1 only: patch the file's bytes
  local hl = string.unpack('<I8', bytes)
  local e = json.decode(bytes:sub(9, 8 + hl))[name]
  local at = bytes:find('\0', 8 + hl + e.data_offsets[1] + 1, true)
  spit(mp, bytes:sub(1, at - 1) .. '\7' .. bytes:sub(at + 1))
  local c = config(root, 'twice')
  c.rounds = 3
  T.checkerror(function() ticket.imp(c) end, 'mask "' .. name .. '" holds 7 at index')
  local tk, terr = ticket.load(root .. '/twice', 1, 2)
  T.check(tk == nil and terr:find('holds 7 at index'), 'ticket.load refuses it: ' .. tostring(terr))
  -- a float mask (written by another tool) with a value other than 0/1
  local fm = {}
  for k, v in pairs(t) do fm[k] = v:clone() end
  fm[name]:reshape { fm[name]:numel() }:set(1, 0.5)
  assert(io_.save(mp, fm, { metadata = meta }))
  T.checkerror(function() ticket.imp(c) end, "mask '" .. name .. "' holds values other than 0 and 1")
end

-- ---- 4. ticket.load allocates nothing the files do not back -------------------------
do
  local root = ROOT .. '/bomb'
  assert(fs.mkdir_p(root))
  assert(os.execute(("cp -r '%s/lone/twice' '%s/'"):format(ROOT, root)))
  local mp = root .. '/twice/replicate_1/round_1/mask.safetensors'
  local t, meta = io_.load(mp)
  local dt = {}
  for k in pairs(t) do dt[k] = 'U8' end
  local function patched(fields)
    local m = {}
    for k, v in pairs(meta) do m[k] = v end
    for k, v in pairs(fields) do m[k] = v end
    assert(io_.save(mp, t, { dtypes = dt, metadata = m }))
    return ticket.load(root .. '/twice', 1, 1)
  end
  local tk, err = patched { numel = '150000000' } -- 600 MB if believed
  T.check(tk == nil and err:find('numel 150000000 does not match its layout'), 'a lying numel: ' .. tostring(err))
  local l = json.decode(meta.layout)
  l[#l][3] = l[#l][3] + 150000000 -- a bias the mask file lacks, made huge
  tk, err = patched { layout = json.encode(l), numel = tostring(tonumber(meta.numel) + 150000000) }
  T.check(tk == nil and err:find('layout differs from'), 'a layout unlike init.safetensors: ' .. tostring(err))
  l = json.decode(meta.layout)
  l[1][3] = l[1][3] - 1 -- a mask of the wrong size for its entry
  tk, err = patched { layout = json.encode(l) }
  T.check(tk == nil and err and err:find('values, its layout says'), 'a mask of the wrong size: ' .. tostring(err))
  tk, err = patched {}
  T.check(tk ~= nil and tk.mask:numel() == tonumber(meta.numel), 'the untouched file loads: ' .. tostring(err))
end

T.report()
