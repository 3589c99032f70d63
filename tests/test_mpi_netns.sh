#!/bin/sh
# Two hosts for real: two network namespaces joined by a veth pair (10.77.x.1 and .2), one rank
# in each, Open MPI over TCP between them (no shared memory); the 2-rank logits equal the single
# process's (rel L2 <= 1e-5). Needs root and iproute2; otherwise skipped (exit 77) with the
# reason. usage: test_mpi_netns.sh LLAMA3 F32_COMPARE FIXTURES_DIR
set -u
cli=$1 cmp=$2 F=$3
[ "$(id -u)" = 0 ] || { echo "skipped: needs root to create network namespaces"; exit 77; }
command -v ip >/dev/null || { echo "skipped: iproute2 (ip) not installed"; exit 77; }
tag=l3$$
na=${tag}a nb=${tag}b net=10.77.$(($$ % 250))
tmp=$(mktemp -d)
cleanup() { ip netns del "$na" 2>/dev/null; ip netns del "$nb" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
if ! { ip netns add "$na" && ip netns add "$nb" && ip link add "${tag}x" type veth peer name "${tag}y" &&
       ip link set "${tag}x" netns "$na" && ip link set "${tag}y" netns "$nb" &&
       ip -n "$na" addr add "$net.1/24" dev "${tag}x" && ip -n "$nb" addr add "$net.2/24" dev "${tag}y" &&
       ip -n "$na" link set "${tag}x" up && ip -n "$nb" link set "${tag}y" up &&
       ip -n "$na" link set lo up && ip -n "$nb" link set lo up; } 2>"$tmp/err"; then
  echo "skipped: cannot create network namespaces here: $(head -1 "$tmp/err")"
  exit 77
fi
# mpirun runs in the first namespace; it starts the second host's daemon through this agent
# (in place of ssh), which runs the command in the second namespace
cat >"$tmp/agent.sh" <<AGENT
#!/bin/sh
while [ \$# -gt 0 ] && [ "\$1" != "$net.2" ]; do shift; done
shift
echo "\$*" >"$tmp/agent.log"
exec ip netns exec "$nb" sh -c "\$*"
AGENT
chmod +x "$tmp/agent.sh"
ids=$tmp/ids.i32
: >"$ids"
for i in 1 17 300 42 511 7 128 256 99 3 64 480; do
  printf "$(printf '\\%03o\\%03o\\000\\000' $((i % 256)) $((i / 256)))" >>"$ids"
done
m=$F/models/gqa/gguf/model-f32.gguf
"$cli" logits -m "$m" --ids "$ids" -o "$tmp/one.f32" --kv-type f32 -t 1 2>/dev/null || { echo "FAIL: alone"; exit 1; }
# (Open MPI's own leaks suppressed under AddressSanitizer and its components' dynamic TLS not
# tracked, as in mpi_run.sh, which says why; -x passes them on)
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan-openmpi.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0:intercept_tls_get_addr=0"
ip netns exec "$na" timeout 120 mpirun -x LSAN_OPTIONS -x ASAN_OPTIONS --allow-run-as-root --oversubscribe --bind-to none \
  --host "$net.1,$net.2" -np 2 --mca plm_rsh_agent "$tmp/agent.sh" --mca btl self,tcp \
  --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
  "$cli" logits -m "$m" --ids "$ids" -o "$tmp/two.f32" --kv-type f32 -t 1 2>"$tmp/mpi.err" ||
  { cat "$tmp/mpi.err"; echo "FAIL: the two-host run"; exit 1; }
[ -s "$tmp/agent.log" ] || { echo "FAIL: the second host's daemon was not started through its namespace"; exit 1; }
"$cmp" "$tmp/two.f32" "$tmp/one.f32" 1e-5 || exit 1
echo PASSED
