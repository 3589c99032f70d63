#!/bin/sh
# Static instruction counts of the loops in aarch64 functions, from aarch64-linux-gnu-objdump:
#   sh bench/arm_loop_insns.sh OBJECT FUNCTION...
# For every conditional backward branch in a function it prints the loop it closes (first and last address)
# and the instructions in it (nested loops included in the outer one's count); a compiler's
# clone of the function (FUNCTION.constprop.0) counts as the function. BENCHMARKS.md
# ("ARM: instructions per 32 weights") divides the decode loop's count by the weights one
# iteration covers, for llama3c's kernel objects and for ggml's CPU backend built for aarch64.
set -eu
obj=$1
shift
OBJDUMP=${OBJDUMP:-aarch64-linux-gnu-objdump}
for fn in "$@"; do
  $OBJDUMP -d --no-show-raw-insn "$obj" | awk -v fn="$fn" '
    function hex(s,   v, i) { v = 0; for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1; return v }
    $0 ~ "^[0-9a-f]+ <" fn "(\\.[a-z]+\\.[0-9]+)?>:$" { on = 1; next }  # (or a clone: fn.constprop.0)
    on && /^$/ { on = 0 }
    on && /^ *[0-9a-f]+:\t/ {
      split($0, f, "\t")
      x = f[1]; gsub(/[ :]/, "", x); a = hex(x)
      n++; addr[n] = a; op = f[2]; args = f[3]
      if (op ~ /^(b\..*|cbz|cbnz|tbz|tbnz)$/ && match(args, /[0-9a-f]+ </)) {
        t = hex(substr(args, RSTART, RLENGTH - 2))
        if (t <= a) { nl++; ls[nl] = t; le[nl] = a }
      }
    }
    END {
      for (i = 1; i <= nl; i++) {
        c = 0
        for (k = 1; k <= n; k++) if (addr[k] >= ls[i] && addr[k] <= le[i]) c++
        printf "%s\tloop %x-%x\t%d instructions\n", fn, ls[i], le[i], c
      }
      if (!n) printf "%s\tnot found\n", fn
    }'
done
