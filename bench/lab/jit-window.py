# Sums V8's TurboFan compile jobs (--trace-opt, line-buffered) per window between the observer's marks.
# Usage: python3 bench/lab/jit-window.py <weir stdout file>
import re, sys
w = 0; t = {}; n = {}; big = {}
for l in open(sys.argv[1]):
    if '=== lab mark' in l:
        w += 1
        continue
    m = re.search(r'completed compiling \S+ <JSFunction (.*?) \(sfi.*took ([0-9.]+), ([0-9.]+), ([0-9.]+) ms', l)
    if m:
        ms = sum(map(float, m.groups()[1:]))
        t[w] = t.get(w, 0) + ms; n[w] = n.get(w, 0) + 1
        big.setdefault(w, []).append((ms, m.group(1)))
for k in sorted(t):
    top = ', '.join('%s %.1f' % (f, ms) for ms, f in sorted(big[k], reverse=True)[:5])
    print('window %d: %d compiles, %.1f ms (largest: %s)' % (k, n[k], t[k], top))
