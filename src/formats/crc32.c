/* CRC-32 by "slicing by 8": eight 256-entry tables, where table[k][b] is the CRC of byte b
 * followed by k zero bytes, fold eight input bytes into the CRC per step with eight lookups
 * instead of eight dependent byte steps. Zip readers check every tensor entry once at open,
 * so speed matters: a large buffer is cut into pieces whose CRCs are computed on as many
 * threads as there are CPUs and joined (crc_join), so a multi-gigabyte shard costs about
 * what reading it from memory costs. */
#include "formats/crc32.h"

#include <pthread.h>
#include <unistd.h>

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void) {
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;
        for (int bit = 0; bit < 8; bit++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
        table[0][b] = c;
    }
    for (int k = 1; k < 8; k++)
        for (uint32_t b = 0; b < 256; b++)
            table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
}

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc_serial(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    uint32_t c = ~crc;
    for (; n >= 8; n -= 8, p += 8) {
        const uint32_t lo = le32(p) ^ c, hi = le32(p + 4);
        c = table[7][lo & 0xff] ^ table[6][lo >> 8 & 0xff] ^ table[5][lo >> 16 & 0xff] ^ table[4][lo >> 24] ^
            table[3][hi & 0xff] ^ table[2][hi >> 8 & 0xff] ^ table[1][hi >> 16 & 0xff] ^ table[0][hi >> 24];
    }
    for (; n; n--) c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* ---- joining the CRCs of pieces ------------------------------------------------------- *
 * Polynomials over GF(2) in the reflected order (bit 31 is x^0). The CRC of A followed by B is
 * CRC(A) times x^(8 len(B)) mod P, xor CRC(B): the pre- and post-inversions cancel. */
#define POLY 0xEDB88320u

static uint32_t mul_mod_p(uint32_t a, uint32_t b) {
    uint32_t prod = 0;
    for (uint32_t m = 1u << 31; m; m >>= 1) {
        if (a & m) prod ^= b;
        b = b & 1 ? (b >> 1) ^ POLY : b >> 1;  /* b * x */
    }
    return prod;
}

/* x^(8 n) mod P, by squaring: x^(2^k) for each bit k of 8 n */
static uint32_t x_pow_8n(uint64_t n) {
    uint32_t result = 1u << 31, sq = 1u << 30;  /* x^0, x^1 */
    for (uint64_t e = n * 8; e; e >>= 1) {
        if (e & 1) result = mul_mod_p(result, sq);
        sq = mul_mod_p(sq, sq);
    }
    return result;
}

static uint32_t crc_join(uint32_t crc_a, uint32_t crc_b, uint64_t len_b) { return mul_mod_p(crc_a, x_pow_8n(len_b)) ^ crc_b; }

#define PIECE_MIN ((size_t)32 << 20)  /* below this a buffer is not split */
#define MAX_PIECES 64

typedef struct piece { const uint8_t *p; size_t n; uint32_t crc; } piece;

static void *piece_crc(void *arg) {
    piece *pc = arg;
    pc->crc = crc_serial(0, pc->p, pc->n);
    return NULL;
}

uint32_t l3_crc32(uint32_t crc, const void *data, size_t n) {
    pthread_once(&table_once, table_init);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    size_t k = n / PIECE_MIN;
    if (cpus > 0 && k > (size_t)cpus) k = (size_t)cpus;
    if (k > MAX_PIECES) k = MAX_PIECES;
    if (k < 2) return crc_serial(crc, data, n);
    piece pcs[MAX_PIECES];
    pthread_t th[MAX_PIECES];
    size_t started = 1;
    for (size_t i = 0; i < k; i++) {
        const size_t lo = n / k * i, hi = i + 1 < k ? n / k * (i + 1) : n;
        pcs[i] = (piece){ (const uint8_t *)data + lo, hi - lo, 0 };
    }
    for (size_t i = 1; i < k; i++, started++)
        if (pthread_create(&th[i], NULL, piece_crc, &pcs[i]) != 0) break;
    piece_crc(&pcs[0]);
    for (size_t i = started; i < k; i++) piece_crc(&pcs[i]);  /* (threads that did not start) */
    for (size_t i = 1; i < started; i++) pthread_join(th[i], NULL);
    for (size_t i = 0; i < k; i++) crc = crc_join(crc, pcs[i].crc, pcs[i].n);
    return crc;
}
