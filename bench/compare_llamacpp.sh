#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: llama3c against llama.cpp on a synthetic Llama 3.2 1B (random
# weights, real shape and vocabulary), per weight type and thread count, plus the memory
# bandwidth bound for generation.
#
# usage: bench/compare_llamacpp.sh --llama-bench PATH [options]
#   --llama-bench PATH  llama.cpp's llama-bench (built separately, CPU only; never part of this repo)
#   --build DIR         llama3c build folder (default: build) with llama3 and bench/bandwidth
#   --llama3 PATH       the llama3 executable (default: DIR/llama3)
#   --models DIR        where the synthetic GGUF files go (default: /tmp/llama3c-bench-models)
#   --shape S           synth shape (default: llama3.2-1b)
#   --types "T ..."     weight types (default: "q4_0 q4_k_m q8_0 f16 bf16")
#   --threads "N ..."   thread counts (default: "1 2")
#   -p N, -n N, -r N    prompt length, generated tokens, repetitions (default 512, 128, 5)
#   --fixtures DIR      fixtures (default: ../shared/fixtures): the tok32 GGUF gives the vocabulary
#   --out FILE          also write the markdown table to FILE
#   --cpp-args "..."    extra llama-bench arguments (e.g. "--poll 0" on a busy machine)
#   --pairs R           generation only, in R interleaved pairs per type and thread count
#                       (llama.cpp's tgN then llama3c's, -r 3 each, one line per pair): this
#                       VM's bandwidth moves by the minute, and the two runs of a pair share it
#   --fresh-cache       first drop each model file from the page cache (dd iflag=nocache) and
#                       read it back through llama3c's mapping, whose MADV_HUGEPAGE advice
#                       makes the page cache hold it in 2 MiB folios: a file cached earlier in
#                       small pages (e.g. as it was written) is read through 4 KiB page-table
#                       entries by both engines, which costs llama3c's decode up to ~30%.
# Each (type, threads) pair runs llama3c and llama.cpp back to back, alternating which goes
# first, so both see the same machine load. Prints a markdown table: median tokens/s of each,
# the ratio llama3c / llama.cpp, and for generation the fraction of the bandwidth bound
# (bandwidth with that many threads / bytes of weights read per token).
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
build="$here/build"
llama3=""
llama_bench=""
models=/tmp/llama3c-bench-models
shape=llama3.2-1b
types="q4_0 q4_k_m q8_0 f16 bf16"
threads="1 2"
P=512; N=128; R=5
fixtures="$here/../shared/fixtures"
out=""
cpp_args=""
pairs=0
fresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --llama-bench) llama_bench="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --llama3) llama3="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --shape) shape="$2"; shift 2 ;;
    --types) types="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    -p) P="$2"; shift 2 ;;
    -n) N="$2"; shift 2 ;;
    -r) R="$2"; shift 2 ;;
    --fixtures) fixtures="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --cpp-args) cpp_args="$2"; shift 2 ;;
    --pairs) pairs="$2"; shift 2 ;;
    --fresh-cache) fresh=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare_llamacpp.sh: unknown option '$1' (see --help)" >&2; exit 1 ;;
  esac
done
[ -n "$llama3" ] || llama3="$build/llama3"
bandwidth="$build/bench/bandwidth"
vocab="$fixtures/models/tok32/gguf/model-bf16.gguf"
for f in "$llama3" "$bandwidth"; do
  [ -x "$f" ] || { echo "compare_llamacpp.sh: $f not found (build llama3c first, or pass --build/--llama3)" >&2; exit 1; }
done
[ -n "$llama_bench" ] && [ -x "$llama_bench" ] || { echo "compare_llamacpp.sh: --llama-bench PATH to llama.cpp's llama-bench is required" >&2; exit 1; }
[ -f "$vocab" ] || { echo "compare_llamacpp.sh: vocabulary $vocab not found (--fixtures DIR)" >&2; exit 1; }
mkdir -p "$models"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" >&2
echo "# llama3c: $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?') (+ working tree); llama.cpp: $("$llama_bench" --version 2>&1 | grep -m1 -o 'version.*' || echo '?')" >&2

# Memory bandwidth with each thread count (again at the end; the best of both is used).
bw_threads="$(echo $threads | tr ' ' ',')"
"$bandwidth" --size 1024 --passes 5 --threads "$bw_threads" | tee "$work/bw.txt" >&2

for t in $types; do
  f="$models/$shape-$t.gguf"
  if [ ! -f "$f" ]; then
    "$llama3" synth --shape "$shape" --type "$t" --vocab "$vocab" --seed 1 -o "$f"
  fi
done

if [ "$fresh" = 1 ]; then
  for t in $types; do
    f="$models/$shape-$t.gguf"
    dd if="$f" iflag=nocache count=0 status=none
    "$llama3" bench -m "$f" -p 0 -n 1 -r 1 -t 1 >/dev/null 2>&1  # reads every weight once
    echo "# $t: dropped from the page cache and read back under MADV_HUGEPAGE" >&2
  done
fi

if [ "$pairs" -gt 0 ]; then
  tg_ts() { awk -F'|' -v t="tg$N" '$0 ~ t {print $(NF-1)}' | awk '{print $1}'; }
  for t in $types; do
    f="$models/$shape-$t.gguf"
    for th in $threads; do
      for r in $(seq "$pairs"); do
        a=$("$llama_bench" -m "$f" -p 0 -n "$N" -r 3 -t "$th" $cpp_args 2>/dev/null | tg_ts)
        b=$("$llama3" bench -m "$f" -p 0 -n "$N" -r 3 -t "$th" 2>/dev/null | tg_ts)
        echo "$t tg$N -t $th, round $r: llama.cpp $a, llama3c $b t/s: $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')x"
      done
    done
  done | tee "${out:-/dev/null}"
  "$bandwidth" --size 1024 --passes 5 --threads "$bw_threads" >&2
  exit 0
fi

results="$work/results.jsonl"
: > "$results"
order=0
for t in $types; do
  f="$models/$shape-$t.gguf"
  for th in $threads; do
    order=$((order + 1))
    run_l3() {
      echo "# llama3c $t -t $th" >&2
      "$llama3" bench -m "$f" -p "$P" -n "$N" -r "$R" -t "$th" --json > "$work/l3.json"
      python3 - "$work/l3.json" "$t" "$th" >> "$results" <<'EOF'
import json, sys
for o in json.load(open(sys.argv[1])):
    print(json.dumps({"engine": "llama3c", "type": sys.argv[2], "threads": int(sys.argv[3]), "test": o["test"],
                      "ts": o["tokens_per_s"], "sd": o["stddev"]}))
EOF
    }
    run_cpp() {
      echo "# llama.cpp $t -t $th" >&2
      "$llama_bench" -m "$f" -p "$P" -n "$N" -r "$R" -t "$th" $cpp_args -o json > "$work/cpp.json" 2> "$work/cpp.err" ||
        { cat "$work/cpp.err" >&2; exit 1; }
      python3 - "$work/cpp.json" "$t" "$th" >> "$results" <<'EOF'
import json, statistics, sys
for o in json.load(open(sys.argv[1])):
    test = ("pp%d" % o["n_prompt"]) if o["n_gen"] == 0 else ("tg%d" % o["n_gen"])
    print(json.dumps({"engine": "llama.cpp", "type": sys.argv[2], "threads": int(sys.argv[3]), "test": test,
                      "ts": statistics.median(o["samples_ts"]), "sd": o["stddev_ts"],
                      "build": o.get("build_commit", "?"), "flash_attn": o.get("flash_attn", "?")}))
EOF
    }
    if [ $((order % 2)) -eq 1 ]; then run_l3; run_cpp; else run_cpp; run_l3; fi
  done
done

"$bandwidth" --size 1024 --passes 5 --threads "$bw_threads" | tee -a "$work/bw.txt" >&2

python3 - "$results" "$work/bw.txt" "$models" "$shape" <<'EOF' | tee "${out:-/dev/null}"
import json, re, struct, sys
results = [json.loads(l) for l in open(sys.argv[1])]
bw = {}
for m in re.finditer(r"bandwidth threads=(\d+) best_gbps=([\d.]+)", open(sys.argv[2]).read()):
    bw[int(m.group(1))] = max(bw.get(int(m.group(1)), 0.0), float(m.group(2)))
models, shape = sys.argv[3], sys.argv[4]

# Bytes of weights read per generated token: every tensor, except that only one row of
# token_embd is read when a separate output.weight exists (tied: token_embd is the output).
BLOCK = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
         12: (256, 144), 13: (256, 176), 14: (256, 210)}
def bytes_per_token(path):
    f = open(path, "rb")
    def rd(fmt):
        return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))[0]
    def rs():
        return f.read(rd("Q"))
    def skip(t):
        if t == 8: rs()
        elif t == 9:
            at, n = rd("I"), rd("Q")
            if at == 8:
                for _ in range(n): rs()
            else: f.read(n * {0:1,1:1,2:2,3:2,4:4,5:4,6:4,7:1,10:8,11:8,12:8}[at])
        else: f.read({0:1,1:1,2:2,3:2,4:4,5:4,6:4,7:1,10:8,11:8,12:8}[t])
    assert f.read(4) == b"GGUF"
    rd("I"); nt, nk = rd("Q"), rd("Q")
    for _ in range(nk):
        rs(); skip(rd("I"))
    sizes = {}
    for _ in range(nt):
        name = rs().decode(); nd = rd("I"); ne = [rd("Q") for _ in range(nd)]; ty = rd("I"); rd("Q")
        nel = 1
        for x in ne: nel *= x
        b, bb = BLOCK[ty]
        sizes[name] = (nel // b * bb, ne[0] // b * bb)
    total = sum(s for s, _ in sizes.values())
    if "output.weight" in sizes:
        total -= sizes["token_embd.weight"][0] - sizes["token_embd.weight"][1]
    return total

types = list(dict.fromkeys(r["type"] for r in results))
cpp_build = next((r["build"] for r in results if r["engine"] == "llama.cpp"), "?")
fa = next((r["flash_attn"] for r in results if r["engine"] == "llama.cpp"), "?")
print("| type | threads | test | llama3c t/s | llama.cpp t/s | llama3c / llama.cpp | bound t/s | llama3c % of bound | llama.cpp % of bound |")
print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
for t in types:
    bpt = bytes_per_token(f"{models}/{shape}-{t}.gguf")
    rows = [r for r in results if r["type"] == t]
    for th in sorted(set(r["threads"] for r in rows)):
        for test in dict.fromkeys(r["test"] for r in rows if r["threads"] == th):
            a = next(r for r in rows if r["engine"] == "llama3c" and r["threads"] == th and r["test"] == test)
            b = next(r for r in rows if r["engine"] == "llama.cpp" and r["threads"] == th and r["test"] == test)
            if test.startswith("tg") and th in bw:
                bound = bw[th] * 1e9 / bpt
                extra = f"{bound:.1f} | {100 * a['ts'] / bound:.0f}% | {100 * b['ts'] / bound:.0f}%"
            else:
                extra = " | | "
            print(f"| {t} | {th} | {test} | {a['ts']:.2f} ± {a['sd']:.2f} | {b['ts']:.2f} ± {b['sd']:.2f} | "
                  f"{a['ts'] / b['ts']:.2f} | {extra} |")
print()
print(f"llama.cpp build {cpp_build}, flash_attn {fa}; bandwidth (best of 2 x 5 passes, 1 GiB): " +
      ", ".join(f"{k} thread(s) {v:.1f} GB/s" for k, v in sorted(bw.items())) +
      f"; weights read per token: " + ", ".join(f"{t} {bytes_per_token(f'{models}/{shape}-{t}.gguf') / 2**20:.0f} MiB" for t in types))
EOF
