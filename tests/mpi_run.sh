#!/bin/sh
# mpirun as the tests use it: N processes on this one machine whatever its core count, unbound
# (2 cores, N ranks with their own threads), as root too (CI runs as root).
#   usage: mpi_run.sh -np N PROGRAM [ARGS...] [: -np M PROGRAM ARGS...]
# (under AddressSanitizer: what Open MPI keeps until exit is suppressed by library name, which
# needs the full stacks of the slow unwinder; llama3c's own leaks are still reported. GCC 12's
# runtime, tracking the dynamic TLS of the components Open MPI loads, sometimes records a garbage
# range (seen: "DTLS 9 at 0x3b28-0x400004c2a") and the leak check's tracer faults reading it, so
# __tls_get_addr is not intercepted: llama3c keeps nothing in dynamic TLS, static TLS is still
# scanned.)
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan-openmpi.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0:intercept_tls_get_addr=0"
root=
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
# (vader's single-copy transfers need ptrace rights that containers often lack)
exec mpirun $root --oversubscribe --bind-to none --mca btl self,vader,tcp \
  --mca btl_vader_single_copy_mechanism none "$@"
