# @TITLE@
# Written by lotto (lua/lotto/plot.lua) from the template plots/lines.gp.
# The numbers are in the .dat file beside this script: one block per series, blocks
# separated by two blank lines (gnuplot's `index`). Restyle freely, then rerun:
#     gnuplot @GPNAME@
base = (exists("ARG0") && ARG0 ne '') ? ARG0[1:strlen(ARG0)-3] : '@BASE@'
data = base . '.dat'

@TERMINAL@
set output base . '@EXT@'

set title '@TITLE@' font ',14'
@CAPTION@
set xlabel '@XLABEL@'
set ylabel '@YLABEL@'
set key @KEY@ box opaque samplen 3 spacing 1.2
set border 3 lw 1.2
set tics nomirror out
set style line 100 lc rgb '#e3e3e3' lw 1 dt 1
set grid xtics ytics back ls 100
if (GPVAL_TERM eq 'dumb') { unset grid }   # text output: grid characters look like data
set autoscale yfix
set offsets 0, 0, graph 0.05, graph 0.05
set bars small

# Okabe-Ito colours (colour-blind safe) with distinct point shapes, one per series.
set linetype 1 lc rgb '#0072B2' lw 2 pt 7 ps 1.1
set linetype 2 lc rgb '#D55E00' lw 2 pt 5 ps 1.0
set linetype 3 lc rgb '#009E73' lw 2 pt 9 ps 1.3
set linetype 4 lc rgb '#CC79A7' lw 2 pt 11 ps 1.3
set linetype 5 lc rgb '#E69F00' lw 2 pt 13 ps 1.2
set linetype 6 lc rgb '#56B4E9' lw 2 pt 3 ps 1.2
set linetype 7 lc rgb '#000000' lw 2 pt 1 ps 1.2
set linetype 8 lc rgb '#999999' lw 2 pt 2 ps 1.2
set linetype cycle 8

# x axis (log scale, reversed range, tics at the data) as the plot asked for
@XAXIS@
@YAXIS@

@PLOT@
