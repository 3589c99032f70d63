#!/bin/bash
# llama3 pull, -m hf:..., list and rm against tests/hub_server.c (a stand-in for the Hugging
# Face Hub serving the fixture folders in its URL layout; HF_ENDPOINT points at it). Every case
# of issue 19: GGUF quant choice, split files, transformers and Meta repositories, redirects,
# 401/403 and the token (variable and file), a cut connection resumed, a partial file resumed
# by a later run, a sha256 mismatch, 404s, the disk-space check, a full disk, the network down,
# offline mode, huggingface_hub's cache layout both ways, the non-terminal progress lines.
# usage: test_hub_pull.sh LLAMA3 HUB_SERVER FIXTURE_MODELS
set -u
cli=$1 server=$2 M=$3
T=$(mktemp -d)
fails=0
cleanup() { exec 3>&- 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; sed "s/^/  stderr: /" "$T/err" | head -12; fails=$((fails + 1)); }
check() { if eval "$2"; then ok "$1"; else bad "$1"; fi; }
one_line() { [ "$(grep -v '^pull: ' "$1" | grep -c .)" = 1 ]; }  # progress lines aside

GG=$M/tok32/gguf
mkfifo "$T/in"
"$server" --log "$T/log" \
  test/tok32-GGUF="$GG" test/gated-GGUF="$GG" test/cut-GGUF="$GG" test/bad-GGUF="$GG" test/huge-GGUF="$GG" \
  test/tok32="$M/tok32/hf" test/mqa31="$M/mqa31/hf" test/gqa="$M/gqa/hf" test/gqa/original="$M/gqa/meta" \
  --alias test/split-GGUF/tiny-Q2_K-00001-of-00002.gguf=test/tok32-GGUF/model-q8_0.gguf \
  --alias test/split-GGUF/tiny-Q2_K-00002-of-00002.gguf=test/tok32-GGUF/model-bf16.gguf \
  --gated test/gated-GGUF=sekrit --cut test/cut-GGUF/model-q8_0.gguf --corrupt test/bad-GGUF/model-q8_0.gguf \
  --size test/huge-GGUF/model-q8_0.gguf=999999999999999 <"$T/in" >"$T/port" &
exec 3>"$T/in"  # the server runs until this closes
for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")
[ -n "$port" ] && [ "$port" != 0 ] || { echo "FAIL: hub_server did not start"; exit 1; }
export HF_ENDPOINT=http://127.0.0.1:$port HF_HOME=$T/home HF_HUB_CACHE=$T/cache
unset HF_TOKEN HF_TOKEN_PATH HF_HUB_OFFLINE XDG_CACHE_HOME
C=$T/cache
commit_of() { printf %s "$1" | sha1sum | cut -c1-40; }
sha_of() { sha256sum "$1" | cut -c1-64; }
pull() { "$cli" pull "$@" >"$T/out" 2>"$T/err"; }
log_mark() { wc -l <"$T/log"; }
log_since() { tail -n +"$(($1 + 1))" "$T/log"; }

# 1. a GGUF repository, QUANT matched case-insensitively; the file through the redirect
c=$(commit_of test/tok32-GGUF) q8=$(sha_of "$GG/model-q8_0.gguf") L=$(log_mark)
pull test/tok32-GGUF:Q8_0; rc=$?
path=$(cat "$T/out")
check "pull GGUF:Q8_0 exits 0" "[ $rc = 0 ]"
check "pull prints the snapshot path" "[ '$path' = '$C/models--test--tok32-GGUF/snapshots/$c/model-q8_0.gguf' ]"
check "the pulled file equals the served one" "cmp -s '$path' '$GG/model-q8_0.gguf'"
check "snapshot entry: relative link to ../../blobs/<sha256>" \
  "[ \"\$(readlink '$path')\" = '../../blobs/$q8' ] && [ -f '$C/models--test--tok32-GGUF/blobs/$q8' ]"
check "refs/main holds the commit" "[ \"\$(cat '$C/models--test--tok32-GGUF/refs/main')\" = '$c' ]"
check "the API URL as the Hub's" "log_since $L | grep -q '^GET /api/models/test/tok32-GGUF/revision/main .* -> 200'"
check "resolve redirected (302), then fetched" \
  "log_since $L | grep -q 'GET /test/tok32-GGUF/resolve/$c/model-q8_0.gguf .* -> 302' && log_since $L | grep -q 'GET /cdn/test/tok32-GGUF/model-q8_0.gguf range=- .* -> 200'"
# progress when stderr is not a terminal: a line per 10%, rising, ending at 100%, no \r
grep '^pull: ' "$T/err" | grep '%' >"$T/prog"
check "progress: one line per 10% step on a non-terminal" \
  "[ \$(grep -c . '$T/prog') -ge 5 ] && [ \$(grep -c . '$T/prog') -le 11 ] && tail -1 '$T/prog' | grep -q '100% model-q8_0.gguf .*12.2/12.2 MB .*MB/s .*ETA' && ! grep -q \$'\\r' '$T/err'"
check "progress: percentages rise" "[ \"\$(sed 's/^pull: *\([0-9]*\)%.*/\1/' '$T/prog' | sort -n -c 2>&1)\" = '' ]"
L=$(log_mark)
pull test/tok32-GGUF:q8_0 --quiet; rc=$?
check "a second pull downloads nothing" "[ $rc = 0 ] && ! log_since $L | grep -q '/cdn/' && [ ! -s '$T/err' ]"
check "--quiet: no progress" "! grep -q '%' '$T/err'"

# 2. -m hf: on a model command gives the same tokens as the local file; offline from the cache
"$cli" run -m "$GG/model-q8_0.gguf" -p "The capital" -n 8 --temp 0 >"$T/ref" 2>/dev/null
HF_HUB_OFFLINE=1 "$cli" run -m hf:test/tok32-GGUF:Q8_0 -p "The capital" -n 8 --temp 0 >"$T/got" 2>"$T/err"
check "run -m hf:...:Q8_0 (offline, cached) = run -m the file" "[ -s '$T/ref' ] && cmp -s '$T/ref' '$T/got'"
L=$(log_mark)
HF_HUB_OFFLINE=1 pull test/mqa31; rc=$?
check "HF_HUB_OFFLINE=1, not cached: one-line error, no request" \
  "[ $rc != 0 ] && one_line '$T/err' && grep -q 'offline' '$T/err' && grep -q 'not in the cache' '$T/err' && [ \$(log_mark) = $L ]"

# 3. errors in one line: the default quant missing (lists those there), 404s, a bad name
pull test/tok32-GGUF; rc=$?
check "no Q4_K_M: says so and lists the quants" \
  "[ $rc != 0 ] && one_line '$T/err' && grep -q 'no GGUF file for Q4_K_M' '$T/err' && grep -q 'it has: .*bf16' '$T/err' && grep -q 'it has: .*q8_0' '$T/err'"
pull test/nope; rc=$?
check "unknown repository: HTTP 404" "[ $rc != 0 ] && one_line '$T/err' && grep -q '404' '$T/err'"
pull test/tok32-GGUF/nope.gguf; rc=$?
check "unknown file: says so" "[ $rc != 0 ] && one_line '$T/err' && grep -q 'has no file nope.gguf' '$T/err'"
pull nope; rc=$?
check "bad repository name" "[ $rc != 0 ] && one_line '$T/err' && grep -q 'not a Hugging Face repository name' '$T/err'"

# 4. a gated repository: 401 without a token, 403 with a wrong one, HF_TOKEN, the token file
pull test/gated-GGUF:Q8_0; rc=$?
check "gated, no token: 401 with the fix" \
  "[ $rc != 0 ] && one_line '$T/err' && grep -q '401' '$T/err' && grep -q 'accept its license' '$T/err' && grep -q 'HF_TOKEN' '$T/err'"
HF_TOKEN=wrong pull test/gated-GGUF:Q8_0; rc=$?
check "gated, wrong token: 403" "[ $rc != 0 ] && one_line '$T/err' && grep -q '403' '$T/err'"
HF_TOKEN=sekrit pull test/gated-GGUF:Q8_0; rc=$?
check "gated, HF_TOKEN: pulled" "[ $rc = 0 ] && cmp -s \"\$(cat '$T/out')\" '$GG/model-q8_0.gguf'"
"$cli" rm test/gated-GGUF 2>/dev/null
mkdir -p "$T/home" && printf 'sekrit\n' >"$T/home/token"
pull test/gated-GGUF:Q8_0; rc=$?
check "gated, token file HF_HOME/token (huggingface-cli login's): pulled" "[ $rc = 0 ]"
rm "$T/home/token"

# 5. a connection cut halfway: resumed at once with a Range request, the file intact
half=$(($(stat -c %s "$GG/model-q8_0.gguf") / 2)) L=$(log_mark)
pull test/cut-GGUF:Q8_0; rc=$?
check "cut mid-file: resumed (Range: bytes=$half-, 206) and complete" \
  "[ $rc = 0 ] && log_since $L | grep -q 'cdn/test/cut-GGUF/model-q8_0.gguf range=bytes=$half- .* -> 206' && cmp -s \"\$(cat '$T/out')\" '$GG/model-q8_0.gguf'"

# 6. a partial download left by an earlier run (huggingface_hub's blobs/<sha>.incomplete) resumes
bf=$(sha_of "$GG/model-bf16.gguf")
mkdir -p "$C/models--test--tok32-GGUF/blobs"
head -c 1000000 "$GG/model-bf16.gguf" >"$C/models--test--tok32-GGUF/blobs/$bf.incomplete"
L=$(log_mark)
pull test/tok32-GGUF:BF16; rc=$?
check "partial file from an earlier run: resumed from byte 1000000" \
  "[ $rc = 0 ] && log_since $L | grep -q 'cdn/test/tok32-GGUF/model-bf16.gguf range=bytes=1000000- .* -> 206' && cmp -s \"\$(cat '$T/out')\" '$GG/model-bf16.gguf' && [ ! -e '$C/models--test--tok32-GGUF/blobs/$bf.incomplete' ]"

# 7. a sha256 mismatch: refused, nothing of it kept or linked
pull test/bad-GGUF:Q8_0; rc=$?
check "sha256 mismatch: one-line error" "[ $rc != 0 ] && one_line '$T/err' && grep -q 'sha256 mismatch' '$T/err'"
check "sha256 mismatch: no blob, no partial file, no snapshot" \
  "[ -z \"\$(ls '$C/models--test--bad-GGUF/blobs')\" ] && [ ! -e '$C/models--test--bad-GGUF/snapshots' ]"
HF_HUB_OFFLINE=1 "$cli" run -m hf:test/bad-GGUF:Q8_0 -p x -n 1 >/dev/null 2>&1
check "sha256 mismatch: the model is not usable offline" "[ $? != 0 ]"

# 8. disk space checked first; a full disk (a file size limit) reported, the rest resumed later
L=$(log_mark)
pull test/huge-GGUF:Q8_0; rc=$?
check "not enough disk space: said before downloading" \
  "[ $rc != 0 ] && one_line '$T/err' && grep -q 'not enough disk space' '$T/err' && ! log_since $L | grep -q /cdn/"
(ulimit -f 2000; HF_HUB_CACHE=$T/small "$cli" pull test/tok32-GGUF:Q8_0 >"$T/out" 2>"$T/err"); rc=$?
check "disk full: one-line error, no blob, partial kept" \
  "[ $rc != 0 ] && grep -q 'disk full' '$T/err' && one_line '$T/err' && [ ! -e '$T/small/models--test--tok32-GGUF/blobs/$q8' ] && [ -s '$T/small/models--test--tok32-GGUF/blobs/$q8.incomplete' ]"
L=$(log_mark)
HF_HUB_CACHE=$T/small pull test/tok32-GGUF:Q8_0; rc=$?
check "after a full disk: the next pull resumes" \
  "[ $rc = 0 ] && log_since $L | grep -q 'range=bytes=2048000- .* -> 206' && cmp -s \"\$(cat '$T/out')\" '$GG/model-q8_0.gguf'"

# 9. the network down: the cached snapshot is used (saying so), else a one-line error
HF_ENDPOINT=http://127.0.0.1:1 pull test/tok32-GGUF:Q8_0; rc=$?
check "network down, cached: the cached snapshot, with a note" \
  "[ $rc = 0 ] && [ \"\$(cat '$T/out')\" = '$path' ] && grep -q 'cached snapshot' '$T/err'"
HF_ENDPOINT=http://127.0.0.1:1 pull test/mqa31; rc=$?
check "network down, not cached: one-line error" \
  "[ $rc != 0 ] && one_line '$T/err' && grep -q 'cannot reach' '$T/err' && grep -q 'not in the cache' '$T/err'"

# 10. transformers repositories (one file; split with an index), Meta's original/ folder
pull test/tok32; rc=$?
d=$(cat "$T/out")
check "transformers: config, tokenizer files, safetensors" \
  "[ $rc = 0 ] && [ \"\$(cd '$d' && ls | tr '\n' ' ')\" = 'config.json model.safetensors tokenizer.json tokenizer_config.json ' ]"
"$cli" run -m "$M/tok32/hf" -p "The capital" -n 8 --temp 0 >"$T/ref" 2>/dev/null
"$cli" run -m hf:test/tok32 -p "The capital" -n 8 --temp 0 >"$T/got" 2>/dev/null
check "run -m hf:test/tok32 = run -m the folder" "[ -s '$T/ref' ] && cmp -s '$T/ref' '$T/got'"
pull test/mqa31; rc=$?
d=$(cat "$T/out")
check "sharded safetensors: both shards and the index" \
  "[ $rc = 0 ] && [ \"\$(cd '$d' && ls | tr '\n' ' ')\" = 'config.json model-00001-of-00002.safetensors model-00002-of-00002.safetensors model.safetensors.index.json ' ]"
pull test/gqa; rc=$?
d=$(cat "$T/out")
check "transformers pull leaves original/ out" "[ $rc = 0 ] && [ ! -e '$d/original' ] && [ -f '$d/model.safetensors' ]"
pull --meta test/gqa; rc=$?
d=$(cat "$T/out")
check "--meta: the original/ folder" \
  "[ $rc = 0 ] && [ \"\${d##*/}\" = original ] && [ \"\$(cd '$d' && ls | tr '\n' ' ')\" = 'consolidated.00.pth params.json ' ]"
"$cli" run -m "$M/gqa/meta" --prompt-ids 1,2,3 -n 6 --temp 0 --print-ids >"$T/ref" 2>/dev/null
"$cli" run -m "$d" --prompt-ids 1,2,3 -n 6 --temp 0 --print-ids >"$T/got" 2>/dev/null
check "the pulled Meta folder runs as the fixture" "[ -s '$T/ref' ] && cmp -s '$T/ref' '$T/got'"

# 11. a split GGUF: every part
pull test/split-GGUF:Q2_K; rc=$?
d=$(dirname "$(cat "$T/out")")
check "split GGUF: both parts, the path names part 1" \
  "[ $rc = 0 ] && [ \"\$(basename \"\$(cat '$T/out')\")\" = tiny-Q2_K-00001-of-00002.gguf ] && cmp -s '$d/tiny-Q2_K-00002-of-00002.gguf' '$GG/model-bf16.gguf'"

# 12. a cache written by huggingface-cli (same layout, made here by hand) is used as it is
H=$C/models--hand--made-GGUF hc=0123456789abcdef0123456789abcdef01234567
mkdir -p "$H/blobs" "$H/snapshots/$hc" "$H/refs"
cp "$GG/model-q8_0.gguf" "$H/blobs/$q8"
ln -s "../../blobs/$q8" "$H/snapshots/$hc/model-Q8_0.gguf"
printf %s "$hc" >"$H/refs/main"
HF_HUB_OFFLINE=1 pull hand/made-GGUF:Q8_0; rc=$?
check "huggingface-cli's cache found (offline)" "[ $rc = 0 ] && [ \"\$(cat '$T/out')\" = '$H/snapshots/$hc/model-Q8_0.gguf' ]"

# 13. list and rm
"$cli" list >"$T/list" 2>"$T/err"; rc=$?
check "list: the cached repositories, revision, size, files" \
  "[ $rc = 0 ] && grep -q '^test/tok32-GGUF  *main  *${c:0:12} .* 28.3 MB  2: model-bf16.gguf, model-q8_0.gguf' '$T/list' && grep -q '^hand/made-GGUF ' '$T/list' && grep -q '^test/mqa31 ' '$T/list'"
"$cli" rm test/tok32-GGUF 2>"$T/err"; rc=$?
"$cli" list >"$T/list" 2>/dev/null
check "rm: the repository is gone" \
  "[ $rc = 0 ] && [ ! -e '$C/models--test--tok32-GGUF' ] && ! grep -q '^test/tok32-GGUF ' '$T/list' && grep -q '^test/mqa31 ' '$T/list'"
"$cli" rm test/tok32-GGUF 2>"$T/err"; rc=$?
check "rm of a repository not cached: one-line error" "[ $rc != 0 ] && one_line '$T/err'"

echo "$fails failure(s)"
[ "$fails" = 0 ]
