/* clang 14 rejects __builtin_cpu_supports("f16c") (gcc accepts it). When the check in
 * fuzz/CMakeLists.txt finds that, the instrumented library is compiled with
 * -D__builtin_cpu_supports(x)=l3_fuzz_cpu_supports(x) and this answers instead (cpuid for f16c,
 * the builtin for the rest). Only the fuzz build uses it. */
#include <cpuid.h>
#include <string.h>

int l3_fuzz_cpu_supports(const char *f);

int l3_fuzz_cpu_supports(const char *f) {
    if (!strcmp(f, "f16c")) {
        unsigned a, b, c, d;
        return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
    }
    if (!strcmp(f, "avx2")) return __builtin_cpu_supports("avx2");
    if (!strcmp(f, "fma")) return __builtin_cpu_supports("fma");
    if (!strcmp(f, "avx512f")) return __builtin_cpu_supports("avx512f");
    if (!strcmp(f, "avx512bw")) return __builtin_cpu_supports("avx512bw");
    if (!strcmp(f, "avx512dq")) return __builtin_cpu_supports("avx512dq");
    if (!strcmp(f, "avx512vl")) return __builtin_cpu_supports("avx512vl");
    if (!strcmp(f, "avx512vnni")) return __builtin_cpu_supports("avx512vnni");
    if (!strcmp(f, "avx512bf16")) return __builtin_cpu_supports("avx512bf16");
    return 0;  /* unknown feature: take the portable path */
}
