-- transfer.lua: do winning tickets transfer? Masks and θ0 found by IMP on MNIST,
-- trained on Fashion-MNIST (LeNet-300-100), against a random mask of the same
-- per-layer density (also from θ0) and the ticket IMP finds on Fashion-MNIST itself.
-- With --sgd, also an optimizer transfer: the Adam tickets trained with SGD.
--
--   lotto examples/transfer.lua            2 seeds, 5 rounds of 30%, 600 iterations
--   lotto examples/transfer.lua --full     5 seeds, 15 rounds of 20%, 20,000 iterations
--   lotto examples/transfer.lua --sgd      add Adam -> SGD (momentum 0.9) on MNIST
--   lotto examples/transfer.lua --restart  start over instead of resuming
local o = lotto.args.parse(arg, {
  usage = 'lotto examples/transfer.lua [options]',
  about = 'Do winning tickets transfer? Masks and θ0 found by IMP on MNIST, trained on\n'
    .. 'Fashion-MNIST (LeNet-300-100), against a random mask of the same per-layer density and\n'
    .. 'the ticket IMP finds on Fashion-MNIST itself. Resumes when rerun.',
  scales = {
    { '(default)', '2 seeds, 5 rounds of 30%, 600 iterations', 'about 3 min' },
    { '--full', '5 seeds, 15 rounds of 20%, 20,000 iterations', 'about 1 day' },
  },
  options = {
    { 'full', false, 'the paper scale' },
    { 'sgd', false, 'also Adam tickets trained with SGD (momentum 0.9) on MNIST' },
    { 'restart', false, 'start over instead of resuming' },
  },
})
local full, restart, sgd = o.full, o.restart, o.sgd
local tag = full and 'transfer_full/' or 'transfer/'

local function imp(name, o)
  local cfg = {
    name = tag .. name, model = 'lenet300', data = 'mnist', data_opts = { val = 5000 },
    optimizer = { kind = 'adam', lr = 1.2e-3 }, batch = 60,
    iterations = full and 20000 or 600, eval_every = full and 1000 or 100,
    seeds = full and { 1, 2, 3, 4, 5 } or { 1, 2 }, rounds = full and 15 or 5,
    prune = full and { rate = 0.2, output_rate = 0.1 } or { rate = 0.3, output_rate = 0.15 },
    controls = {}, restart = restart, plots = false,
  }
  for k, v in pairs(o) do cfg[k] = v end
  local results, run = lotto.ticket.imp(cfg)
  return { results = results, run = run }
end

local mnist = imp('mnist', {})                                     -- tickets found on MNIST
local fashion = imp('fashion', { data = 'fashion_mnist' })         -- found on Fashion-MNIST itself
local moved = imp('mnist_to_fashion', { data = 'fashion_mnist', controls = { 'random' },
  source = { run = mnist.run.dir, weights = 'init' } })          -- MNIST masks + θ0, trained on Fashion-MNIST
local columns = {
  { 'MNIST ticket', moved, 'ticket' }, { 'random ticket', moved, 'random' }, { 'Fashion ticket', fashion, 'ticket' },
}
if sgd then
  local opt = imp('adam_to_sgd', { optimizer = { kind = 'sgd', lr = 0.05, momentum = 0.9 }, controls = { 'random' },
    source = { run = mnist.run.dir, weights = 'init' } })
  columns[#columns + 1] = { 'Adam ticket, SGD', opt, 'ticket' }
  columns[#columns + 1] = { 'random, SGD', opt, 'random' }
end

print('\ntest accuracy at early stopping on Fashion-MNIST (%, mean ± std over the seeds)' ..
  (sgd and '; the SGD columns are on MNIST' or ''))
local head, series = { ('%10s'):format('remaining') }, {}
for i, c in ipairs(columns) do
  head[#head + 1] = ('%17s'):format(c[1])
  series[i] = { name = c[1], x = {}, y = {}, err = {} }
end
print(table.concat(head, ' '))
for r, a in ipairs(moved.results.aggregate) do
  local row = { ('%9.1f%%'):format(a.remaining_pct) }
  for i, c in ipairs(columns) do
    local b = c[2].results.aggregate[r]
    local st = b and b.methods[c[3]] and b.methods[c[3]].early_stop_test_acc
    row[#row + 1] = ('%17s'):format(st and ('%.2f ± %.2f'):format(100 * st.mean, 100 * st.std) or '-')
    if st then
      local s = series[i]
      s.x[#s.x + 1], s.y[#s.y + 1], s.err[#s.err + 1] = b.remaining_pct, 100 * st.mean, 100 * st.std
    end
  end
  print(table.concat(row, ' '))
end
if sgd then table.remove(series); table.remove(series) end -- the plot is about Fashion-MNIST
local ticks = {} -- one tick per density
for _, a in ipairs(moved.results.aggregate) do ticks[#ticks + 1] = a.remaining_pct end
for i, s in ipairs(series) do s.xshift = 10 ^ ((i - (#series + 1) / 2) * 0.006) end -- bars side by side
local img, err = lotto.plot.lines {
  out = mnist.run.root .. '/' .. tag .. 'transfer', title = 'LeNet-300-100: MNIST tickets on Fashion-MNIST',
  caption = ('runs under %s/%s · mean ± std over %d seeds'):format(mnist.run.root, tag, #moved.run:replicates()),
  xlabel = 'weights remaining (%)', ylabel = 'Fashion-MNIST test accuracy at early stop (%)',
  logx = true, reverse_x = true, key = 'bottom left', series = series, xtics = ticks,
}
print(img and ('\nplot: ' .. img) or ('\nplot not drawn: ' .. tostring(err)))
