# @TITLE@
# Written by lotto (lua/lotto/plot.lua) from the template plots/heatmap.gp.
# The matrix is in the .dat file beside this script (row i = line i, gnuplot `matrix`).
# Restyle freely, then rerun:
#     gnuplot @GPNAME@
base = (exists("ARG0") && ARG0 ne '') ? ARG0[1:strlen(ARG0)-3] : '@BASE@'
data = base . '.dat'

@TERMINAL@
set output base . '@EXT@'

set title '@TITLE@' font ',14'
set xlabel '@XLABEL@'
set ylabel '@YLABEL@'
set cblabel '@CBLABEL@'
set tics out nomirror scale 0.5
set border lw 1.2
set size ratio -1
# viridis: dark = low, yellow = high
set palette defined (0 '#440154', 0.25 '#3b528b', 0.5 '#21918c', 0.75 '#5ec962', 1 '#fde725')
set xrange [-0.5:@NCOLS@ - 0.5]
set yrange [@NROWS@ - 0.5:-0.5]
@CBRANGE@
@TICS@
# cell labels: dark text on light cells, light text on dark ones
labelcolor(v) = (v - @VMIN@) > 0.6 * (@VMAX@ - @VMIN@) ? 0x000000 : 0xffffff

@PLOT@
