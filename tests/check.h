/* The check macro the unit tests share: report a failed condition with a printf-style
 * explanation and count it; main() returns check_failures != 0. */
#ifndef LLAMA3_TESTS_CHECK_H
#define LLAMA3_TESTS_CHECK_H
#include <stdio.h>

static int check_failures;

#define CHECK(cond, ...)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                              \
            fputc('\n', stderr);                                                       \
            check_failures++;                                                          \
        }                                                                              \
    } while (0)

#endif
