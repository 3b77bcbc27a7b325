-- test_augment.lua: data.pad (zero padding to 32x32, a grey channel replicated) on a
-- crafted data set, and the loader's augment option: deterministic per seed, a flip
-- only ever mirrors, and misuse names the option.
package.path = os.getenv('LOTTO_SOURCE_DIR') .. '/tests/lua/?.lua;' .. package.path
local C = require 'check'
local T = require 'lotto.tensor'
local data = require 'lotto.data'
local check, check_eq, checkerror = C.check, C.check_eq, C.checkerror

do -- pad 1, replicate to 3 channels: (2, 1, 2, 2) -> (2, 3, 4, 4)
  local x = T.new({ 1, 2, 3, 4, 5, 6, 7, 8 }):reshape { 2, 1, 2, 2 }
  local ds = data.from_tensors(x, T.new({ 0, 1 }), { classes = 2 })
  local p = data.pad(ds, { pad = 1, channels = 3 })
  check_eq(p:x():shape(), { 2, 3, 4, 4 })
  check_eq(p:classes(), 2)
  local img = p:x():select(1, 1)
  for c = 1, 3 do
    check_eq(img:select(1, c):totable(), { { 0, 0, 0, 0 }, { 0, 1, 2, 0 }, { 0, 3, 4, 0 }, { 0, 0, 0, 0 } })
  end
  check_eq(p:y():totable(), { 0, 1 })
  checkerror(function() data.pad(data.from_tensors(T.zeros { 2, 3 }, T.zeros { 2 }), { pad = 2 }) end, 'images')
  local rgb = data.from_tensors(T.zeros { 1, 3, 2, 2 }, T.zeros { 1 }, { classes = 1 })
  checkerror(function() data.pad(rgb, { channels = 4 }) end, 'one-channel')
end

do -- loader augment: the same seed gives the same images, a flip mirrors
  local n = 32
  local x = T.arange(1, n * 16 + 1):reshape { n, 1, 4, 4 }
  local ds = data.from_tensors(x, T.zeros { n }, { classes = 1 })
  local function first(seed, aug)
    local it = data.loader(ds, { batch = n, seed = seed, shuffle = false, augment = aug })
    return (it:next()):clone()
  end
  check_eq(first(3, true):totable(), first(3, true):totable(), 'deterministic per seed')
  check(first(3, true):totable()[1] ~= nil)
  local a, b = first(3, true), first(4, true)
  check((a - b):abs():sum() > 0, 'another seed, other crops')
  local f = first(5, { flip = true })
  local mirrored, kept = 0, 0
  for i = 1, n do
    local got, orig = f:select(1, i):select(1, 1):totable(), x:select(1, i):select(1, 1):totable()
    local same, mirror = true, true
    for h = 1, 4 do
      for w = 1, 4 do
        same = same and got[h][w] == orig[h][w]
        mirror = mirror and got[h][w] == orig[h][5 - w]
      end
    end
    check(same or mirror, 'flip only: each image kept or mirrored')
    if same then kept = kept + 1 elseif mirror then mirrored = mirrored + 1 end
  end
  check(kept > 0 and mirrored > 0, ('both kept (%d) and mirrored (%d) images in 32'):format(kept, mirrored))
  checkerror(function() data.loader(ds, { augment = 'yes' }) end, "option 'augment'")
  checkerror(function() data.loader(ds, { augment = { crop = 100 } }) end, 'augment.crop')
  checkerror(function() data.loader(ds, { augment = { crp = 4 } }) end, "did you mean 'crop'")
  checkerror(function() data.loader(data.from_tensors(T.zeros { 2, 3 }, T.zeros { 2 }), { augment = true }) end,
    'images')
end

C.report()
