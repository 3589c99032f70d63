/* CRC-32 as zip archives store it (reflected polynomial 0xEDB88320, initial value and final
 * xor 0xFFFFFFFF; "123456789" -> 0xCBF43926). */
#ifndef LLAMA3_CRC32_H
#define LLAMA3_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of data[0..n) continued from crc (0 to start): l3_crc32(l3_crc32(0, a, na), b, nb)
 * is the CRC of a followed by b. Thread-safe. */
uint32_t l3_crc32(uint32_t crc, const void *data, size_t n);

#endif
