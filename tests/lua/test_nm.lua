-- test_nm.lua: the n:m binding (sparse.nm) against dense products on odd shapes, for
-- 2:4, 1:4 and 4:8 masks drawn by prune.nm_model's rule, and its misuse.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local sparse = require 'lotto.sparse'
local cprune = require 'lotto.core.prune'
local check, check_eq, checkerror = C.check, C.check_eq, C.checkerror

local function maxdiff(a, b) return (a - b):abs():max() end

for _, case in ipairs { { 2, 4, 7, 12, 5 }, { 1, 4, 3, 8, 9 }, { 4, 8, 5, 16, 3 }, { 2, 4, 1, 4, 1 } } do
  local n, m, out, inp, B = table.unpack(case)
  local w, mask = T.randn({ out, inp }, out * 7 + inp), T.ones { out, inp }
  cprune.nm(mask, w, n, m)
  local wm = w * mask
  local a = sparse.nm(w, mask, n, m)
  check_eq(a:shape(), { out, inp })
  check_eq({ a:pattern() }, { n, m })
  check(maxdiff(a:todense(), wm) == 0, 'todense is the masked weight')
  local x, dy, b = T.randn({ B, inp }, 11), T.randn({ B, out }, 12), T.randn({ out }, 13)
  local tag = ('%d:%d (%d, %d) batch %d'):format(n, m, out, inp, B)
  check(maxdiff(a:matmul_t(x), x:matmul(wm:transpose())) < 1e-5, tag .. ' forward')
  local yb = a:matmul_t(x, b)
  check(maxdiff(yb:narrow(1, 1, 1):reshape { out }, x:narrow(1, 1, 1):matmul(wm:transpose()):reshape { out } + b) < 1e-5,
    tag .. ' bias')
  check(maxdiff(a:backward_input(dy), dy:matmul(wm)) < 1e-5, tag .. ' input gradient')
  check(maxdiff(a:weight_grad(x, dy), dy:transpose():matmul(x) * mask) < 1e-5, tag .. ' weight gradient on the pattern')
  a:refresh(w * 2)
  check(maxdiff(a:todense(), wm * 2) < 1e-6, tag .. ' refresh')
end

do -- dispatch: mode 'nm' runs n:m masks on the n:m kernels (forward), CSR for the rest
  local nn = require 'lotto.nn'
  local prune = require 'lotto.prune'
  local function net()
    local m = nn.model(nn.sequential { nn.conv2d(4, 6, 3, { padding = 1 }), nn.relu(), nn.flatten(), nn.linear(6 * 16, 8),
      nn.relu(), nn.linear(8, 3) }, { input = { 4, 4, 4 } })
    m:init { seed = 3 }
    return m
  end
  local x, y = T.randn({ 5, 4, 4, 4 }, 4), T.new({ 0, 1, 2, 1, 0 })
  for _, nmp in ipairs { { 2, 4 }, { 1, 4 }, { 4, 8 } } do
    local m = net()
    prune.nm_model(m, nmp[1], nmp[2])
    local dense = sparse.with_mode('dense', function() return m:forward(x, false) end)
    local fast = sparse.with_mode('nm', function() return m:forward(x, false) end)
    check(maxdiff(dense, fast) < 1e-5, ('%d:%d outputs as dense'):format(nmp[1], nmp[2]))
    -- after a CSR forward and changed weights, 'nm' again re-reads the values into its n:m form
    sparse.with_mode('sparse', function() return m:forward(x, false) end)
    m:values():mul_(2)
    dense = sparse.with_mode('dense', function() return m:forward(x, false) end)
    fast = sparse.with_mode('nm', function() return m:forward(x, false) end)
    check(maxdiff(dense, fast) < 1e-4, ('%d:%d outputs as dense after a mode switch'):format(nmp[1], nmp[2]))
    check_eq(sparse.layers(m)[2].path, 'n:m', 'back on the n:m kernels')
    local paths = {}
    for _, l in ipairs(sparse.layers(m)) do paths[#paths + 1] = (l.path or '-') .. ' ' .. (l.nm or '-') end
    -- conv1's 36 inputs (4 x 3 x 3) are not whole groups of 8: at 4:8 it runs on the CSR
    -- (a 4:8 mask whose quads keep at most 2 runs as 2:4: the first pattern that fits)
    local p = 'n:m ' .. nmp[1] .. ':' .. nmp[2]
    check_eq({ paths[1], paths[2] }, { nmp[2] == 8 and 'sparse -' or p, p })
    check(paths[3]:match('^n:m'), 'fc2 on the n:m kernels: ' .. paths[3])
    -- a training step under 'nm' (gradients on the CSR) gives the dense step's gradients
    m:step_loss(x, y)
    local gd = m:grads():clone()
    sparse.with_mode('nm', function() m:step_loss(x, y) end)
    check(maxdiff(gd, m:grads()) < 1e-5, 'gradients as dense')
  end
  local m = net() -- not an n:m mask: 'nm' falls back to the CSR
  prune.magnitude(m, { rate = 0.5 })
  sparse.with_mode('nm', function() m:forward(x, false) end)
  -- (fc2's rows of 8 keep 4 or fewer: any such mask is 4:8; the wider layers' masks are not n:m)
  for _, l in ipairs(sparse.layers(m)) do
    if l.name ~= 'fc2' then check_eq(l.path, 'sparse', l.name .. ' on the CSR') end
  end
  checkerror(function() sparse.mode('n:m') end, "'sparse' or 'nm'")
end

do -- auto: an n:m mask runs on the n:m forward at inference (32 columns or more, AVX2), dense in training
  local nn = require 'lotto.nn'
  local prune = require 'lotto.prune'
  local m = nn.model(nn.sequential { nn.linear(32, 64), nn.relu(), nn.linear(64, 8) }, { input = { 32 } })
  m:init { seed = 5 }
  prune.nm_model(m, 2, 4)
  local x = T.randn({ 40, 32 }, 6)
  local want = sparse.with_mode('dense', function() return m:forward(x, false) end)
  local function paths()
    local p = {}
    for _, l in ipairs(sparse.layers(m)) do p[#p + 1] = l.path end
    return p
  end
  sparse.with_mode('auto', function() return m:forward(x, false) end)
  check_eq(paths(), { 'dense', 'dense' }, 'auto at inference, not frozen: weights re-read each time cost the gain')
  sparse.set_layer(m, nil, { frozen = true })
  local got = sparse.with_mode('auto', function() return m:forward(x, false) end)
  check(maxdiff(want, got) < 1e-5, 'auto at inference: outputs as dense')
  local fast = sparse.nm_kernel() == 'avx2'
  check_eq(paths(), fast and { 'n:m', 'dense' } or { 'dense', 'dense' }, 'auto at inference, frozen (8 rows: sgemm)')
  sparse.with_mode('auto', function() return m:forward(x:narrow(1, 1, 16), false) end) -- 16 columns: sgemm
  check_eq(paths(), { 'dense', 'dense' }, 'auto at batch 16')
  sparse.with_mode('auto', function() return m:forward(x, true) end) -- training: dense (no fast n:m backward)
  check_eq(paths(), { 'dense', 'dense' }, 'auto in training')
  -- the portable kernel never wins against sgemm: auto leaves it alone
  local was = sparse.nm_kernel('portable')
  sparse.with_mode('auto', function() return m:forward(x, false) end)
  check_eq(paths(), { 'dense', 'dense' }, 'auto with the portable kernel')
  check_eq(sparse.nm_kernel(was), 'portable')
  check_eq(sparse.nm_kernel(), was, 'restored')
  checkerror(function() sparse.nm_kernel('fast') end, "invalid option 'fast'")
end

do -- auto and convolutions: n:m only up to 64 pixels per image (past it sgemm takes several images at once)
  local nn = require 'lotto.nn'
  local prune = require 'lotto.prune'
  local function conv_path(side)
    local m = nn.model(nn.sequential { nn.conv2d(8, 64, 3, { padding = 1 }) }, { input = { 8, side, side } })
    m:init { seed = 3 }
    prune.nm_model(m, 2, 4)
    sparse.set_layer(m, nil, { frozen = true })
    local x = T.randn({ 2, 8, side, side }, 4)
    local want = sparse.with_mode('dense', function() return m:forward(x, false) end)
    local got = sparse.with_mode('auto', function() return m:forward(x, false) end)
    check(maxdiff(want, got) < 1e-4, side .. 'x' .. side .. ' conv: auto outputs as dense')
    return sparse.layers(m)[1].path
  end
  local fast = sparse.nm_kernel() == 'avx2'
  check_eq(conv_path(8), fast and 'n:m' or 'dense', 'a frozen 2:4 conv on 8x8 images (64 pixels) runs on the n:m forward')
  check_eq(conv_path(16), 'dense', 'a frozen 2:4 conv on 16x16 images (256 pixels) stays on sgemm')
end

do -- misuse
  local w = T.randn({ 2, 8 }, 1)
  checkerror(function() sparse.nm(w, T.ones { 2, 8 }, 2, 4) end, 'keep more than 2 of 4')
  checkerror(function() sparse.nm(w, T.ones { 2, 8 }, 2, 3) end, 'divide')
  checkerror(function() sparse.nm(w, T.ones { 2, 8 }, 5, 4) end, 'n must be')
  checkerror(function() sparse.nm(w, T.ones { 3, 8 }, 2, 4) end, 'shape')
  local mask = T.ones { 2, 8 }
  cprune.nm(mask, w, 2, 4)
  local a = sparse.nm(w, mask, 2, 4)
  checkerror(function() a:matmul_t(T.zeros { 3, 7 }) end, 'x must be (B, 8)')
  checkerror(function() a:weight_grad(T.zeros { 3, 8 }, T.zeros { 2, 2 }) end, "batch size")
end

C.report()
