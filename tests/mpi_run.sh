#!/bin/sh
# mpirun as the tests use it: N processes on this one machine whatever its core count, unbound
# (2 cores, N ranks with their own threads), as root too (CI runs as root).
#   usage: mpi_run.sh -np N PROGRAM [ARGS...] [: -np M PROGRAM ARGS...]
# (under AddressSanitizer: what Open MPI keeps until exit is suppressed by library name, which
# needs the full stacks of the slow unwinder; llama3c's own leaks are still reported)
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "$0")" && pwd)/lsan-openmpi.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"
root=
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
# (vader's single-copy transfers need ptrace rights that containers often lack)
exec mpirun $root --oversubscribe --bind-to none --mca btl self,vader,tcp \
  --mca btl_vader_single_copy_mechanism none "$@"
