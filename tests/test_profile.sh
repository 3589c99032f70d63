#!/bin/bash
# The op profiler (bench --profile, LLAMA3_PROFILE=1): every op kind of model.py's pass is
# counted exactly as forward.c runs it, the serial fraction and the 1 -> N thread table are
# printed, and timing changes no result (the logits are the same bits with it on).
# usage: test_profile.sh LLAMA3_CLI MODEL(gqa q8_0: 3 layers) TMPDIR
set -u
CLI=$1 M=$2 T=$3
fails=0
check() {  # check NAME CONDITION
    if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi
}
L=3  # n_layers of the fixture
"$CLI" bench -m "$M" -p 16 -n 4 -t 1,2 -r 2 --profile >"$T/prof.out" 2>"$T/prof.err"
check "bench --profile exits 0" "[ $? = 0 ]"
# the report of test $1 at $2 threads: the op's calls column
calls() { awk -v t="$1" -v n="$2" -v op="$3" '
    $0 ~ "^llama3 bench: " t ", " n " threads" { on = 1; next }
    /^llama3 bench:/ { on = 0 }
    on && $1 == op { print $2; exit }' "$T/prof.err"; }
# pp16: 2 timed runs of one pass; tg4: 2 runs of 4 passes; per pass 7 matmuls and 2 norms a layer
for th in 1 2; do
    check "pp16 $th thr: begin x2"        "[ \"$(calls pp16 $th begin)\" = 2 ]"
    check "pp16 $th thr: matmul 7 x L x 2" "[ \"$(calls pp16 $th matmul)\" = $((7 * L * 2)) ]"
    check "pp16 $th thr: rmsnorm 2 x L x 2" "[ \"$(calls pp16 $th rmsnorm)\" = $((2 * L * 2)) ]"
    check "pp16 $th thr: attention L x 2" "[ \"$(calls pp16 $th attention)\" = $((L * 2)) ]"
    check "pp16 $th thr: add 2 x L x 2"   "[ \"$(calls pp16 $th add)\" = $((2 * L * 2)) ]"
    check "tg4 $th thr: matmul 7 x L x 8" "[ \"$(calls tg4 $th matmul)\" = $((7 * L * 8)) ]"
    check "tg4 $th thr: output x8"        "[ \"$(calls tg4 $th output)\" = 8 ]"
done
check "1 thread: no serial fraction claimed" "grep -q 'serial fraction: needs 2 or more threads' '$T/prof.err'"
check "2 threads: serial fraction and Amdahl" "grep -Eq '^serial fraction [0-9.]+% .*Amdahl: 16 threads [0-9.]+x' '$T/prof.err'"
check "1 -> 2 thread table for pp16 and tg4" \
    "grep -q '^llama3 bench: pp16, 1 -> 2 threads' '$T/prof.err' && grep -q '^llama3 bench: tg4, 1 -> 2 threads' '$T/prof.err' && grep -Eq '^pass +[0-9.]+ +[0-9.]+ +[0-9.]+x' '$T/prof.err'"
check "the table on stdout is unchanged" "[ \$(grep -c '^| gqa\\|^| model' '$T/prof.out') -ge 1 ] && ! grep -q 'profile:' '$T/prof.out'"

# LLAMA3_PROFILE=1: any command's session reports when it ends; results bit for bit the same
printf '\001\000\000\000\002\000\000\000\003\000\000\000\004\000\000\000\005\000\000\000' >"$T/ids.i32"
"$CLI" logits -m "$M" --ids "$T/ids.i32" -o "$T/plain.f32" --mode decode -t 2 2>"$T/plain.err"
LLAMA3_PROFILE=1 "$CLI" logits -m "$M" --ids "$T/ids.i32" -o "$T/prof.f32" --mode decode -t 2 2>"$T/env.err"
check "LLAMA3_PROFILE=1 prints the report at the end" "grep -q '^profile: 5 passes, 5 rows, 2 threads' '$T/env.err' && grep -q '^matmul .* $((7 * L * 5)) ' '$T/env.err'"
check "LLAMA3_PROFILE unset: no report" "! grep -q '^profile:' '$T/plain.err'"
check "logits identical with the profiler on" "cmp -s '$T/plain.f32' '$T/prof.f32'"
LLAMA3_PROFILE=0 "$CLI" logits -m "$M" --ids "$T/ids.i32" -o "$T/zero.f32" --mode decode 2>"$T/zero.err"
check "LLAMA3_PROFILE=0: no report" "! grep -q '^profile:' '$T/zero.err'"
[ $fails = 0 ] || { echo "$fails failed"; cat "$T/prof.err"; exit 1; }
