-- lotto.plot: gnuplot plots of lottery-ticket runs. Every plot writes <out>.dat (the
-- numbers) and <out>.gp (filled from a template in plots/) beside the image, so
-- `gnuplot <out>.gp` redraws it after restyling. Formats: png, svg, dumb (text, for the
-- REPL). The parts: plot/core.lua (lines, heatmap, templates, gnuplot) and
-- plot/runs.lua (the plots of a run, plot.run, plot.register). Set plot.gnuplot to
-- the gnuplot to use (default $LOTTO_GNUPLOT or gnuplot on the PATH).
local P = require 'lotto.plot.core'
require 'lotto.plot.runs' -- adds metric_vs_sparsity, accuracy_vs_sparsity, early_stop, curves, register, run

local ok, help = pcall(require, 'lotto.help')
if ok and type(help) == 'table' and help.register then
  help.register(P, {
    accuracy_vs_sparsity = 'accuracy_vs_sparsity(rundir | run | results, {out =, format = png|svg|dumb}) -> image | nil, msg',
    early_stop = 'early_stop(rundir | run | results, opts) -> image: early-stop iteration vs % weights remaining',
    metric_vs_sparsity = 'metric_vs_sparsity(src, metric, opts) -> image: any summary metric vs % weights remaining',
    curves = "curves(rundir, {rounds = {0, 3, 7}, method = 'ticket', metric = 'test_acc', seed =, out =}) -> image",
    lines = 'lines{out =, title =, xlabel =, ylabel =, logx =, reverse_x =, series = {{name =, x =, y =, err =}}, hline = {y =, name =}}',
    heatmap = 'heatmap{out =, matrix =, labels =, title =, xlabel =, ylabel =, cblabel =} -> image',
    run = 'run(dir[, {format =, quiet =}]) -> images | nil, msg: every plot of a run into <dir>/plots',
    register = 'register(name, fn): fn(run, outdir, opts) -> image, an extra plot for plot.run',
    have_gnuplot = 'have_gnuplot() -> true when gnuplot is on the PATH',
  })
end

return P
