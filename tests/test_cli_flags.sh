#!/bin/bash
# llama.cpp's flag names mean what ours mean (each alias gives the output of the option it
# stands for, and that option has an effect), "unknown option X" anywhere on the line for every
# command, --version, and the progress lines of convert, quantize, synth and perplexity when
# stderr is not a terminal (a line per 10%, rising to 100%, nothing with --quiet).
# usage: test_cli_flags.sh LLAMA3 FIXTURE_MODELS SOURCE_DIR
set -u
cli=$1 M=$2 src=$3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok: $1"; }
check() { if eval "$2"; then ok "$1"; else echo "FAIL: $1"; fails=$((fails + 1)); fi; }
TOK=$M/tok32/gguf/model-bf16.gguf
run() { "$cli" run -m "$TOK" -p "The capital" "$@" 2>"$T/err"; }

# ---- aliases ----------------------------------------------------------------------------------
a=$("$cli" info -m "$TOK" -c 100) b=$("$cli" info -m "$TOK" --ctx-size 100) c=$("$cli" info -m "$TOK" -c 200)
check "--ctx-size = -c" "[ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && [ \"\$a\" != \"\$c\" ]"

a=$(run --temp 0 -n 5) && grep -q 'generation: 5 tokens' "$T/err"; ra=$?
b=$(run --temp 0 --n-predict 5) c=$(run --temp 0 --predict 5) d=$(run --temp 0 -n 6)
check "-n = --n-predict = --predict (5 tokens)" "[ $ra = 0 ] && [ \"\$a\" = \"\$b\" ] && [ \"\$a\" = \"\$c\" ] && [ \"\$a\" != \"\$d\" ]"

a=$(run --temp 1 -n 6 -s 5) b=$(run --temp 1 -n 6 --seed 5) c=$(run --temp 1 -n 6 --seed 6)
check "-s = --seed" "[ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && [ \"\$a\" != \"\$c\" ]"

sys_prompt() { run --chat --temp 0 -n 1 "$@" >/dev/null; sed -n 's/^prompt: \([0-9]*\) tokens.*/\1/p' "$T/err"; }
a=$(sys_prompt -sys "You are terse.") b=$(sys_prompt --system-prompt "You are terse.")
c=$(sys_prompt --system "You are terse.") d=$(sys_prompt)
check "-sys = --system-prompt = --system (run --chat)" "[ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && [ \"\$a\" = \"\$c\" ] && [ \"\$a\" -gt \"\$d\" ]"
a=$(printf 'hello\n' | "$cli" chat -m "$TOK" --temp 0 -n 2 -sys "You are terse." --print-ids 2>/dev/null | tail -1)
b=$(printf 'hello\n' | "$cli" chat -m "$TOK" --temp 0 -n 2 --system-prompt "You are terse." --print-ids 2>/dev/null | tail -1)
c=$(printf 'hello\n' | "$cli" chat -m "$TOK" --temp 0 -n 2 --print-ids 2>/dev/null | tail -1)
check "-sys = --system-prompt (chat)" "[ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && [ \"\$a\" != \"\$c\" ]"

full=$(run --temp 0 -n 16)
stop=${full:5:4}  # text from the middle of the greedy answer
want=${full%%"$stop"*}
a=$(run --temp 0 -n 16 -r "$stop"); n_a=$(sed -n 's/.*generation: \([0-9]*\) tokens.*/\1/p' "$T/err")
b=$(run --temp 0 -n 16 --reverse-prompt "$stop")
check "-r / --reverse-prompt: run stops before the text ('$stop')" \
  "[ \${#full} -gt 9 ] && [ \"\$a\" = \"\$want\" ] && [ \"\$b\" = \"\$want\" ] && [ \"\$n_a\" -lt 16 ]"
fullc=$(printf 'hello\n' | "$cli" chat -m "$TOK" --temp 0 -n 16 2>/dev/null)
stopc=${fullc:3:4}
wantc=${fullc%%"$stopc"*}
a=$(printf 'hello\n' | "$cli" chat -m "$TOK" --temp 0 -n 16 -r "$stopc" 2>/dev/null)
check "-r: chat's answer stops before the text ('$stopc')" "[ \${#fullc} -gt 7 ] && [ \"\$a\" = \"\$wantc\" ]"

# --context-shift: four exchanges in a context of 80 tokens; the oldest messages go, the system
# message stays, and the last answer is what run generates from the ids kept (greedy)
msgs='hello\nhow are you\nwhat is this\ntell me more\n'
printf "$msgs" | "$cli" chat -m "$TOK" --temp 0 -n 10 -c 80 -sys "You are terse." >/dev/null 2>"$T/err"; r=$?
check "chat without --context-shift: stops at a full context" "[ $r = 0 ] && grep -q 'context is full' '$T/err'"
out=$(printf "$msgs" | "$cli" chat -m "$TOK" --temp 0 -n 10 -c 80 -sys "You are terse." --context-shift --print-ids 2>"$T/err"); r=$?
ids=$(tail -1 <<<"$out")
OPEN="128000 128006 9125 128007 271 2675 527 51637 13 128009"  # BOS, the system message
HDR="128006 78191 128007 271"                               # the assistant header
prefix="${ids% $HDR *} $HDR"
ans=${ids#"$prefix "}
ans=${ans% 128009}
want=$("$cli" run -m "$TOK" --prompt-ids "$prefix" --temp 0 -n 10 --print-ids 2>/dev/null | tail -1)
want=${want% 128009}
check "--context-shift: oldest messages dropped, the system message kept, the answers go on" \
  "[ $r = 0 ] && grep -q 'context full: dropped the' '$T/err' && ! grep -q 'context is full' '$T/err' && [ \"\${ids#\"\$OPEN \"}\" != \"\$ids\" ] && [ \$(wc -w <<<\"\$ids\") -le 80 ] && [ \$(grep -c . <<<\"\$out\") -ge 4 ]"
check "--context-shift: the last answer = run from the ids kept" "[ -n \"\$ans\" ] && [ \"\$ans\" = \"\$want\" ]"

"$cli" serve -m "$TOK" -np 0 2>"$T/e1"; "$cli" serve -m "$TOK" --parallel 300 2>"$T/e2"; "$cli" serve -m "$TOK" --slots 0 2>"$T/e3"
check "-np / --parallel = --slots" \
  "grep -q \"invalid -np '0' (1..256)\" '$T/e1' && grep -q \"invalid --parallel '300' (1..256)\" '$T/e2' && grep -q \"invalid --slots '0' (1..256)\" '$T/e3'"

a=$(run --temp 0 -n 4) b=$(run --temp 0 -n 4 --no-mmap)
check "--no-mmap: same tokens, weights read into memory" "[ -n \"\$a\" ] && [ \"\$a\" = \"\$b\" ] && grep -q 'weights .* (read into memory)' '$T/err'"

b=$(run --temp 0 -n 4 -ngl 99) c=$(run --temp 0 -n 4 --n-gpu-layers 0) d=$(run --temp 0 -n 4 --gpu-layers all)
"$cli" run -m "$TOK" -p x -ngl lots 2>"$T/e1"
check "-ngl / --n-gpu-layers accepted (CPU only: the same tokens); a bad count refused" \
  "[ \"\$a\" = \"\$b\" ] && [ \"\$a\" = \"\$c\" ] && [ \"\$a\" = \"\$d\" ] && grep -q \"invalid -ngl 'lots'\" '$T/e1'"
b=$("$cli" run -m "$TOK" -fa -p "The capital" --temp 0 -n 4 2>/dev/null) c=$(run --temp 0 -n 4 -fa on) d=$(run --temp 0 -n 4 --flash-attn off)
check "-fa [on|off|auto] accepted, the value optional" "[ \"\$a\" = \"\$b\" ] && [ \"\$a\" = \"\$c\" ] && [ \"\$a\" = \"\$d\" ]"

a=$("$cli" --version) b=$("$cli" -v) c=$("$cli" version)
commit=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
check "--version = -v = version: version, commit, build, backends, kernel sets" \
  "[ \"\$a\" = \"\$b\" ] && [ \"\$a\" = \"\$c\" ] && head -1 <<<\"\$a\" | grep -Eq '^llama3c [0-9]+\.[0-9]+\.[0-9]+ \(commit ($commit|unknown)' && grep -q '^build: .*Release\|^build: ' <<<\"\$a\" && grep -q '^backends: cpu' <<<\"\$a\" && grep -q '^cpu: .*in use:' <<<\"\$a\""
a=$("$cli" version -m "$TOK")
check "version -m MODEL: the device" "grep -q '^model: .* on cpu' <<<\"\$a\""

# ---- unknown options, anywhere on the line ------------------------------------------------------
cmds=$("$cli" --help | awk '/^Commands:/{f=1;next} f&&/^  [a-z]/{print $1} /^$/{if(f)f=0}')
for c in $cmds; do
  case $c in  # a valid argument of the command to put the unknown option before and after
    convert|quantize) fill=("$TOK" "$T/x.gguf") ;;
    synth) fill=(--shape tiny) ;;
    pull|rm) fill=(owner/name) ;;
    list) fill=() ;;
    *) fill=(-m "$TOK") ;;
  esac
  for where in end start; do
    if [ $where = end ]; then "$cli" "$c" "${fill[@]}" --bogus >/dev/null 2>"$T/err"; else "$cli" "$c" --bogus "${fill[@]}" >/dev/null 2>"$T/err"; fi
    r=$?
    check "llama3 $c: unknown option at the $where" \
      "[ $r = 1 ] && [ \"\$(cat '$T/err')\" = 'llama3 $c: unknown option --bogus (see llama3 $c --help)' ]"
  done
done
"$cli" --bogus 2>"$T/err"; r=$?
check "llama3 --bogus: unknown option" "[ $r = 1 ] && grep -q '^llama3: unknown option --bogus' '$T/err'"
"$cli" run -m "$TOK" -p x -n 2>"$T/err"; r=$?
check "a value missing at the end: says so" "[ $r = 1 ] && grep -q 'option -n needs a value' '$T/err'"

# ---- progress lines when stderr is not a terminal ----------------------------------------------
# progress CMD LOG: the lines are "CMD: NN% ..." rising to 100%, at most one per 10% step
progress_ok() {
  local lines
  lines=$(grep -E "^$1: +[0-9]+% " "$2" | sed -E "s/^$1: +([0-9]+)%.*/\1/")
  [ -n "$lines" ] && [ "$(tail -1 <<<"$lines")" = 100 ] && sort -n -c -u <<<"$lines" 2>/dev/null &&
    [ "$(sed 's/.$//' <<<"$lines" | sort -u | wc -l)" = "$(wc -l <<<"$lines")" ] && ! grep -q $'\r' "$2" &&
    [ "$(wc -l <<<"$lines")" -ge "$3" ]
}
G=$M/gqa/gguf/model-bf16.gguf
"$cli" convert "$G" "$T/c.gguf" --type q8_0 2>"$T/err"
check "convert: a progress line per 10%" "progress_ok convert '$T/err' 5 && grep -q '^convert: 100% .* MB .*MB/s .*ETA' '$T/err'"
"$cli" convert "$G" "$T/cq.gguf" --type q8_0 --quiet 2>"$T/err"
check "convert --quiet: no progress, the same file" "! grep -q '%' '$T/err' && cmp -s '$T/c.gguf' '$T/cq.gguf'"
"$cli" quantize "$G" "$T/q.gguf" q4_0 2>"$T/err"
check "quantize: a progress line per 10%" "progress_ok quantize '$T/err' 5"
"$cli" quantize "$G" "$T/qq.gguf" q4_0 --quiet 2>"$T/err"
check "quantize --quiet: no progress, the same file" "! grep -q '%' '$T/err' && cmp -s '$T/q.gguf' '$T/qq.gguf'"
"$cli" synth --shape tiny --type q8_0 -o "$T/s.gguf" -t 2 2>"$T/err"
check "synth: progress lines up to 100%" "progress_ok synth '$T/err' 2"
"$cli" synth --shape tiny --type q8_0 -o "$T/s.gguf" -t 2 --quiet 2>"$T/err"
check "synth --quiet: no progress" "! grep -q '%' '$T/err'"
"$cli" perplexity -m "$G" -f "$src/README.md" -c 64 --chunks 20 >/dev/null 2>"$T/err"
check "perplexity: a line per 10% of the windows (11 for 20)" \
  "progress_ok perplexity '$T/err' 11 && grep -q '^perplexity: 100% PPL [0-9.]*  20/20 ' '$T/err'"
"$cli" perplexity -m "$G" -f "$src/README.md" -c 64 --chunks 20 --quiet >/dev/null 2>"$T/err"
check "perplexity --quiet: no progress" "! grep -q '%' '$T/err'"

echo "$fails failure(s)"
[ "$fails" = 0 ]
