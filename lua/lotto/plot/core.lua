-- lotto.plot.core: the generic plots (lines, heatmap) and their machinery: gnuplot
-- templates from plots/, the .dat and .gp files written beside each image, gnuplot
-- itself. Every plot writes <out>.dat (the numbers) and <out>.gp (filled from a
-- template) beside the image, so `gnuplot <out>.gp` redraws it after restyling.
-- Formats: png, svg, pdf, dumb (text, for the REPL). This table is lotto.plot; the plots
-- of a run (lotto.plot.runs) add themselves to it.
local fs = require 'lotto.fs'
local U = require 'lotto.util'

local P = { gnuplot = os.getenv('LOTTO_GNUPLOT') or 'gnuplot', extra = {} }

local EXT = { png = '.png', svg = '.svg', pdf = '.pdf', dumb = '.txt' }
P.formats = EXT -- format -> extension of the image
local TERMINAL = {
  png = "set terminal pngcairo size 900,600 noenhanced font 'Sans,12' linewidth 1.2",
  svg = "set terminal svg size 900,600 dynamic noenhanced font 'Sans,12' linewidth 1.2",
  pdf = "set terminal pdfcairo size 6in,4in noenhanced font 'Sans,10' linewidth 1.2",
  dumb = 'set terminal dumb size 100,32 noenhanced',
}
-- ---- templates, gnuplot and files --------------------------------------------------

local function plots_dir()
  if P.plots_dir then return P.plots_dir end
  local cands = {}
  if type(LOTTO_ROOT) == 'string' then cands[#cands + 1] = LOTTO_ROOT .. '/plots' end
  if os.getenv('LOTTO_SOURCE_DIR') then cands[#cands + 1] = os.getenv('LOTTO_SOURCE_DIR') .. '/plots' end
  local src = debug.getinfo(1, 'S').source
  local here = src:sub(1, 1) == '@' and src:sub(2):match('^(.-)/?lua/lotto/plot/core%.lua$')
  if here then cands[#cands + 1] = (here == '' and '.' or here) .. '/plots' end
  for _, d in ipairs(cands) do
    if fs.exists(d .. '/lines.gp') then return d end
  end
  U.raise('gnuplot templates not found (looked in ' .. table.concat(cands, ', ') .. '); set LOTTO_ROOT')
end

local function fill(name, vars)
  local path = plots_dir() .. '/' .. name .. '.gp'
  local f = assert(io.open(path, 'r'))
  local text = f:read('a')
  f:close()
  return (text:gsub('@([%u_]+)@', function(k)
    if vars[k] == nil then U.raise(('template %s: no value for @%s@'):format(path, k)) end
    return tostring(vars[k])
  end))
end

local function find_gnuplot()
  local g = P.gnuplot
  if g:find('/') then return fs.exists(g) and g or nil end
  for d in (os.getenv('PATH') or ''):gmatch('[^:]+') do
    if fs.exists(d .. '/' .. g) then return d .. '/' .. g end
  end
end
P.have_gnuplot = function() return find_gnuplot() ~= nil end

local function shq(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local function gpq(s) return (tostring(s):gsub("'", "''"):gsub('\n', ' ')) end
local function num(x) return ('%.10g'):format(x) end
local function tick(x) return x >= 1 and ('%.3g'):format(x) or ('%.2g'):format(x) end
P.tick = tick -- a short axis label for x

local function write_file(path, text) return fs.write_atomic(path, text) end

-- Parses {out=, format=}: out may carry the extension; returns base, format.
local function output(opts, default_out)
  local out = opts.out or default_out
  if type(out) ~= 'string' or out == '' then U.raise("plot: option 'out' (output path without extension) is required") end
  local stem, ext = out:match('^(.*)%.(%a+)$')
  local format = opts.format
  if stem and (ext == 'png' or ext == 'svg' or ext == 'pdf' or ext == 'txt') then
    out, format = stem, format or (ext == 'txt' and 'dumb' or ext)
  end
  format = format or 'png'
  if not EXT[format] then U.raise(("plot: unknown format '%s' (png, svg, pdf or dumb)"):format(tostring(format))) end
  local dir = out:match('^(.*)/[^/]*$')
  if dir and dir ~= '' then
    local ok, err = fs.mkdir_p(dir)
    if not ok then return nil, err end
  end
  return out, format
end

-- Writes the script, runs gnuplot on it. Returns image path (or text for dumb), files.
local function render(base, format, template, vars, opts)
  vars.TERMINAL, vars.EXT = TERMINAL[format], EXT[format]
  vars.BASE, vars.GPNAME = gpq(base), base:match('[^/]*$') .. '.gp'
  local gp = base .. '.gp'
  local wok, werr = write_file(gp, fill(template, vars))
  if not wok then return nil, werr end
  local files = { dat = base .. '.dat', gp = gp, image = base .. EXT[format] }
  local exe = find_gnuplot()
  if not exe then
    return nil, ('gnuplot not found: install gnuplot-nox (Debian) or gnuplot; data and script written to %s and %s')
      :format(files.dat, gp), files
  end
  local pipe = assert(io.popen(shq(exe) .. ' ' .. shq(gp) .. ' 2>&1'))
  local log = pipe:read('a')
  local ok = pipe:close()
  if not ok or not fs.exists(files.image) then
    return nil, ('gnuplot failed on %s: %s'):format(gp, log ~= '' and log or 'no output'), files
  end
  if format ~= 'dumb' then return files.image, files end
  local f = assert(io.open(files.image))
  local text = f:read('a')
  f:close()
  if opts.print == false then return text, files end
  io.write(text)
  return files.image, files
end

-- ---- the generic line plot -------------------------------------------------------

local function xaxis(spec, xs)
  local lines = {}
  local lo, hi = math.huge, -math.huge
  for _, x in ipairs(xs) do lo, hi = math.min(lo, x), math.max(hi, x) end
  if spec.logx then lines[#lines + 1] = 'set logscale x 10' end
  local xtics = spec.xtics
  if not xtics and spec.logx and lo > 0 and hi / lo < 100 then
    -- within two decades gnuplot's log axis shows one or two labels at most: put
    -- a labelled tic at each distinct x of the data instead
    local seen, list = {}, {}
    for _, x in ipairs(xs) do if not seen[x] then seen[x] = true; list[#list + 1] = x end end
    table.sort(list)
    xtics = list
  end
  if xtics then
    local t, step = {}, math.max(1, math.ceil(#xtics / 12))
    for i = 1, #xtics, step do t[#t + 1] = ('"%s" %s'):format(tick(xtics[i]), num(xtics[i])) end
    lines[#lines + 1] = 'set xtics (' .. table.concat(t, ', ') .. ')'
    lines[#lines + 1] = 'unset mxtics'
  end
  if spec.reverse_x and lo < hi then -- reversed: largest x on the left
    local a, b
    if spec.logx then a, b = hi * 1.12, lo / 1.12 else a, b = hi + 0.03 * (hi - lo), lo - 0.03 * (hi - lo) end
    lines[#lines + 1] = ('set xrange [%s:%s]'):format(num(a), num(b))
  elseif spec.reverse_x then
    lines[#lines + 1] = 'set xrange [*:*] reverse'
  end
  return table.concat(lines, '\n')
end

-- plot.lines{out=, format=, title=, xlabel=, ylabel=, logx=, logy=, reverse_x=, xtics=,
--   yrange=, key=, series = {{name=, x=, y=, err= | lo=, hi=, style=}}, hline = {y=, name=}}
-- Every plot returns the image path, or nil, message. format 'dumb' prints the text and
-- returns the .txt path; with print = false it returns the text instead.
function P.lines(spec)
  if type(spec) ~= 'table' or type(spec.series) ~= 'table' then U.raise("plot.lines: expected {series = {...}, out = ...}") end
  local base, format = output(spec)
  if not base then return nil, format end
  local dat = { '# lotto plot data: ' .. (spec.title or ''),
    '# one block per series (gnuplot index 0, 1, ...); columns: x y [ylow yhigh]' }
  local plots, xs, index = {}, {}, 0
  for i, s in ipairs(spec.series) do
    if type(s.x) ~= 'table' or type(s.y) ~= 'table' then U.raise(('plot.lines: series %d needs x and y arrays'):format(i)) end
    local rows = {}
    local has_err = s.err or (s.lo and s.hi)
    for j = 1, #s.x do
      local x, y = s.x[j], s.y[j]
      if type(x) == 'number' and type(y) == 'number' and x == x and y == y and (not spec.logx or x > 0) then
        local lo = s.err and y - s.err[j] or s.lo and s.lo[j] or y
        local hi = s.err and y + s.err[j] or s.hi and s.hi[j] or y
        rows[#rows + 1] = has_err and (num(x) .. ' ' .. num(y) .. ' ' .. num(lo) .. ' ' .. num(hi)) or (num(x) .. ' ' .. num(y))
        xs[#xs + 1] = x
      end
    end
    if #rows > 0 then
      if index > 0 then dat[#dat + 1] = '\n' end
      dat[#dat + 1] = ('# series %d: %s'):format(index, s.name or ('series ' .. i))
      for _, r in ipairs(rows) do dat[#dat + 1] = r end
      local style = has_err and 'yerrorlines' or s.style or 'linespoints'
      -- s.xshift: a factor on x (log axes) or an offset, so series at the same x do not
      -- hide each other's error bars; the .dat keeps the true x.
      local xcol = '1'
      if type(s.xshift) == 'number' and s.xshift ~= (spec.logx and 1 or 0) then
        xcol = spec.logx and ('($1*%s)'):format(num(s.xshift)) or ('($1+%s)'):format(num(s.xshift))
      end
      plots[#plots + 1] = ("data index %d using %s:2%s with %s lt %d title '%s'"):format(index, xcol,
        has_err and ':3:4' or '', style, i, gpq(s.name or ('series ' .. i)))
      index = index + 1
    end
  end
  if #plots == 0 then return nil, 'plot.lines: nothing to plot (every series is empty)' end
  if spec.hline and type(spec.hline.y) == 'number' then
    dat[#dat + 1] = ('\n# hline: %s %s'):format(num(spec.hline.y), spec.hline.name or '')
    plots[#plots + 1] = ("%s with lines lc rgb '#444444' lw 1.5 dt 2 title '%s'"):format(num(spec.hline.y),
      gpq(spec.hline.name or ''))
  end
  local wok, werr = write_file(base .. '.dat', table.concat(dat, '\n') .. '\n')
  if not wok then return nil, werr end
  return render(base, format, 'lines', {
    CAPTION = spec.caption and ("set bmargin 5\nset label 101 '%s' at screen 0.01, screen 0.02 left font ',9' tc rgb '#555555'")
      :format(gpq(spec.caption)) or '',
    TITLE = gpq(spec.title or ''), XLABEL = gpq(spec.xlabel or 'x'), YLABEL = gpq(spec.ylabel or 'y'),
    KEY = spec.key or 'bottom left', XAXIS = xaxis(spec, xs), YAXIS = (spec.logy and 'set logscale y 10\n' or '')
      .. (spec.yrange and ('set yrange [%s:%s]'):format(num(spec.yrange[1]), num(spec.yrange[2])) or ''),
    PLOT = 'plot ' .. table.concat(plots, ', \\\n     '),
  }, spec)
end

-- plot.heatmap{out=, format=, matrix = {{...}, ...}, title=, xlabel=, ylabel=, cblabel=,
--   labels = {...} (or xlabels/ylabels), values = true|false (print each cell)}
function P.heatmap(spec)
  if type(spec) ~= 'table' or type(spec.matrix) ~= 'table' or type(spec.matrix[1]) ~= 'table' then
    U.raise('plot.heatmap: expected {matrix = {{...}, ...}, out = ...}')
  end
  local base, format = output(spec)
  if not base then return nil, format end
  local m, rows = spec.matrix, { '# lotto heatmap: ' .. (spec.title or ''), '# one matrix row per line (gnuplot matrix)' }
  local ncols, vmin, vmax = #m[1], math.huge, -math.huge
  for i, r in ipairs(m) do
    if #r ~= ncols then U.raise(('plot.heatmap: row %d has %d values, row 1 has %d'):format(i, #r, ncols)) end
    local cells = {}
    for j, v in ipairs(r) do
      if type(v) ~= 'number' then U.raise(('plot.heatmap: matrix[%d][%d] is not a number'):format(i, j)) end
      cells[j] = num(v)
      vmin, vmax = math.min(vmin, v), math.max(vmax, v)
    end
    rows[#rows + 1] = table.concat(cells, ' ')
  end
  local wok, werr = write_file(base .. '.dat', table.concat(rows, '\n') .. '\n')
  if not wok then return nil, werr end
  local function tics(axis, labels)
    if type(labels) ~= 'table' then return ('set %stics 1'):format(axis) end -- one tic per cell
    local t = {}
    for i, l in ipairs(labels) do t[i] = ("'%s' %d"):format(gpq(l):gsub('%%', '%%%%'), i - 1) end -- labels are formats
    return ('set %stics (%s)%s'):format(axis, table.concat(t, ', '), axis == 'x' and ' rotate by -30' or '')
  end
  local plot = 'plot data matrix with image notitle'
  if format == 'dumb' then -- no colours in text: print the values
    plot = "unset colorbox\nplot data matrix using 1:2:(sprintf('%.2g', $3)) with labels notitle"
  elseif spec.values ~= false and #m * ncols <= 144 then
    plot = plot .. ", \\\n     data matrix using 1:2:(sprintf('%.2g', $3)):(labelcolor($3)) with labels tc rgb variable notitle"
  end
  return render(base, format, 'heatmap', {
    CAPTION = spec.caption and ("set bmargin 5\nset label 101 '%s' at screen 0.01, screen 0.02 left font ',9' tc rgb '#555555'")
      :format(gpq(spec.caption)) or '',
    TITLE = gpq(spec.title or ''), XLABEL = gpq(spec.xlabel or ''), YLABEL = gpq(spec.ylabel or ''),
    CBLABEL = gpq(spec.cblabel or ''), NCOLS = ncols, NROWS = #m, VMIN = num(vmin), VMAX = num(vmax),
    CBRANGE = spec.cbrange and ('set cbrange [%s:%s]'):format(num(spec.cbrange[1]), num(spec.cbrange[2])) or '',
    TICS = tics('x', spec.xlabels or spec.labels) .. '\n' .. tics('y', spec.ylabels or spec.labels),
    PLOT = plot,
  }, spec)
end

return P
