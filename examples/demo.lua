-- demo.lua: a first look at lotto's tensors (replaced by the flagship IMP demo
-- once lotto.ticket lands).
local T = lotto.tensor
local a = T.randn({3, 4}, 7)
print('a = randn({3,4}, seed 7)'); print(a)
local b = T.ones({4, 2})
print('a:matmul(ones(4,2))'); print(a:matmul(b))
print(('sum %.4f  mean %.4f  max %.4f'):format(a:sum(), a:mean(), a:max()))
