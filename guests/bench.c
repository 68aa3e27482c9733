/*
 * bench - deterministic CPU workload for measuring emulator speed.
 *
 * Each round runs six kernels chosen to stress different parts of an
 * interpreter: a prime sieve (byte stores, strided loops), CRC32 (table
 * loads, shifts, xor), an open-addressing hash table (multiply hashing,
 * remainder, unpredictable branches), integer matrix multiply (mul, dense
 * loads), quicksort (compare-and-branch heavy, recursion) and a
 * division/gcd loop (div/rem). Inputs come from a fixed-seed xorshift
 * generator, so the checksum depends only on correct execution. The
 * default size retires roughly 500 million instructions; build with
 * -DBENCH_ROUNDS=N to scale it.
 *
 * Output is identical on every run and on any correct RV32IM machine,
 * except the final "instret:" line, which reports minstret (QEMU without
 * -icount does not count instructions exactly).
 */
#include <stdint.h>
#include <stdio.h>

#include "lockstep.h"

#ifndef BENCH_ROUNDS
#define BENCH_ROUNDS 14
#endif

/* Which kernels run, one bit each in the order of main (bench/kernels.sh times them one by one). */
#ifndef BENCH_KERNELS
#define BENCH_KERNELS 0x3F
#endif

static uint32_t rng_state;

static uint32_t xorshift32(void)
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return rng_state = x;
}

/* Order-sensitive combination, so swapped kernel results change the sum. */
static uint32_t mix(uint32_t acc, uint32_t v)
{
    acc ^= v;
    acc *= 0x01000193u;
    return (acc << 7) | (acc >> 25);
}

/* ---- Sieve of Eratosthenes ------------------------------------------- */

#define SIEVE_N (1u << 19)
static uint8_t composite[SIEVE_N];

static uint32_t kernel_sieve(uint32_t limit)
{
    for (uint32_t i = 0; i < limit; i++)
        composite[i] = 0;
    uint32_t count = 0, sum = 0;
    for (uint32_t i = 2; i < limit; i++) {
        if (composite[i])
            continue;
        count++;
        sum += i;
        for (uint32_t j = i * i; j < limit && i < 65536u; j += i)
            composite[j] = 1;
    }
    return count * 2654435761u + sum;
}

/* ---- CRC32 (IEEE, reflected) ----------------------------------------- */

#define CRC_BUF 65536u
static uint32_t crc_table[256];
static uint8_t crc_buf[CRC_BUF];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t kernel_crc(void)
{
    for (uint32_t i = 0; i < CRC_BUF; i += 4) {
        uint32_t r = xorshift32();
        crc_buf[i] = (uint8_t)r;
        crc_buf[i + 1] = (uint8_t)(r >> 8);
        crc_buf[i + 2] = (uint8_t)(r >> 16);
        crc_buf[i + 3] = (uint8_t)(r >> 24);
    }
    uint32_t crc = 0xFFFFFFFFu;
    for (int pass = 0; pass < 8; pass++)
        for (uint32_t i = 0; i < CRC_BUF; i++)
            crc = crc_table[(crc ^ crc_buf[i]) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

/* ---- Open-addressing hash table -------------------------------------- */

#define HT_BITS   16
#define HT_SIZE   (1u << HT_BITS)
#define HT_KEYS   (HT_SIZE * 5 / 8)    /* load factor 0.625 */
#define HT_EMPTY  0u                   /* keys are forced non-zero */

static uint32_t ht_key[HT_SIZE];
static uint32_t ht_val[HT_SIZE];

/* Double hashing: multiplicative hash picks the slot, a remainder by a
 * prime picks the (odd, hence full-period) probe step. */
static uint32_t ht_slot(uint32_t key)  { return (key * 2654435769u) >> (32 - HT_BITS); }
static uint32_t ht_step(uint32_t key)  { return (key % 65521u) | 1u; }

static void ht_put(uint32_t key, uint32_t val)
{
    uint32_t s = ht_slot(key), step = ht_step(key);
    while (ht_key[s] != HT_EMPTY && ht_key[s] != key)
        s = (s + step) & (HT_SIZE - 1);
    ht_key[s] = key;
    ht_val[s] += val;
}

static int ht_get(uint32_t key, uint32_t *val)
{
    uint32_t s = ht_slot(key), step = ht_step(key);
    while (ht_key[s] != HT_EMPTY) {
        if (ht_key[s] == key) {
            *val = ht_val[s];
            return 1;
        }
        s = (s + step) & (HT_SIZE - 1);
    }
    return 0;
}

static uint32_t kernel_hash(void)
{
    for (uint32_t i = 0; i < HT_SIZE; i++)
        ht_key[i] = ht_val[i] = 0;

    /* Keys drawn from a narrow range so that some inserts hit existing
     * entries and lookups miss about half the time. */
    uint32_t seed = rng_state;
    for (uint32_t i = 0; i < HT_KEYS; i++) {
        uint32_t r = xorshift32();
        ht_put((r % (HT_KEYS * 2)) + 1, r >> 16);
    }

    rng_state = seed;
    uint32_t hits = 0, acc = 0;
    for (uint32_t i = 0; i < HT_KEYS * 2; i++) {
        uint32_t v;
        uint32_t key = (xorshift32() % (HT_KEYS * 2)) + 1 + (i & 1) * 7;
        if (ht_get(key, &v)) {
            hits++;
            acc = mix(acc, v);
        }
    }
    return mix(acc, hits);
}

/* ---- Matrix multiply -------------------------------------------------- */

#define MAT_N 80
static int32_t mat_a[MAT_N][MAT_N], mat_b[MAT_N][MAT_N], mat_c[MAT_N][MAT_N];

static uint32_t kernel_matmul(void)
{
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            mat_a[i][j] = (int32_t)(xorshift32() & 0xFFFF) - 0x8000;
            mat_b[i][j] = (int32_t)(xorshift32() & 0xFFFF) - 0x8000;
        }
    /* Accumulate in uint32_t: products of 16-bit values summed 80 times
     * would overflow int32_t, which C leaves undefined. */
    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++) {
            uint32_t s = 0;
            for (int k = 0; k < MAT_N; k++)
                s += (uint32_t)(mat_a[i][k] * mat_b[k][j]);
            mat_c[i][j] = (int32_t)s;
        }
    uint32_t acc = 0;
    for (int i = 0; i < MAT_N; i++)
        acc = mix(acc, (uint32_t)mat_c[i][(i * 7) % MAT_N]);
    return acc;
}

/* ---- Quicksort -------------------------------------------------------- */

#define SORT_N 30000
static int32_t sort_buf[SORT_N];

static void quicksort(int32_t *a, int lo, int hi)
{
    while (lo < hi) {
        int32_t pivot = a[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j) {
                int32_t t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        /* Recurse into the smaller half to bound stack depth. */
        if (j - lo < hi - i) {
            quicksort(a, lo, j);
            lo = i;
        } else {
            quicksort(a, i, hi);
            hi = j;
        }
    }
}

static uint32_t kernel_sort(void)
{
    for (int i = 0; i < SORT_N; i++)
        sort_buf[i] = (int32_t)xorshift32();
    quicksort(sort_buf, 0, SORT_N - 1);
    uint32_t acc = 0, ordered = 1;
    for (int i = 1; i < SORT_N; i++)
        ordered &= sort_buf[i - 1] <= sort_buf[i];
    for (int i = 0; i < SORT_N; i += 97)
        acc = mix(acc, (uint32_t)sort_buf[i]);
    return mix(acc, ordered);
}

/* ---- Division --------------------------------------------------------- */

static uint32_t gcd(uint32_t a, uint32_t b)
{
    while (b) {
        uint32_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static uint32_t kernel_div(void)
{
    uint32_t acc = 0;
    for (int i = 0; i < 60000; i++) {
        uint32_t a = xorshift32(), b = xorshift32() >> (i & 15);
        acc = mix(acc, gcd(a, b | 1));
        /* Signed division with both signs; the divisor is never 0 or -1,
         * so INT32_MIN / -1 cannot occur. */
        int32_t sa = (int32_t)a, sb = (int32_t)(b | 2) >> 3;
        if (sb == 0 || sb == -1)
            sb = 3;
        acc += (uint32_t)(sa / sb) ^ (uint32_t)(sa % sb);
    }
    return acc;
}

int main(void)
{
    printf("bench: %d rounds\n", BENCH_ROUNDS);
    crc_init();

    uint32_t checksum = 0;
    for (uint32_t round = 0; round < BENCH_ROUNDS; round++) {
        rng_state = 0x9E3779B9u ^ (round * 0x85EBCA6Bu);
        if (rng_state == 0)
            rng_state = 1;
        if (BENCH_KERNELS & 0x01)
            checksum = mix(checksum, kernel_sieve(SIEVE_N - round * 1024));
        if (BENCH_KERNELS & 0x02)
            checksum = mix(checksum, kernel_crc());
        if (BENCH_KERNELS & 0x04)
            checksum = mix(checksum, kernel_hash());
        if (BENCH_KERNELS & 0x08)
            checksum = mix(checksum, kernel_matmul());
        if (BENCH_KERNELS & 0x10)
            checksum = mix(checksum, kernel_sort());
        if (BENCH_KERNELS & 0x20)
            checksum = mix(checksum, kernel_div());
    }

    uint64_t instret = rdinstret64();
    printf("checksum: 0x%08lx\n", (unsigned long)checksum);
    printf("instret: %llu\n", (unsigned long long)instret);
    return 0;
}
