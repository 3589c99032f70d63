/* Force-included into the instrumented library when the compiler rejects
 * __builtin_cpu_supports("f16c") (clang 14): see cpu_shim.c. */
int l3_fuzz_cpu_supports(const char *f);
#define __builtin_cpu_supports(x) l3_fuzz_cpu_supports(x)
