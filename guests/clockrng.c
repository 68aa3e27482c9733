/*
 * clockrng - hammer every nondeterministic input the machine has.
 *
 * Reads the time CSR, mtime over MMIO, the RTC and the RNG many times and
 * folds them all into one hash. The printed value differs from run to run;
 * a faithful record/replay must reproduce it exactly. A few sanity checks
 * (clocks never run backwards) make a broken clock visible as well.
 */
#include <stdint.h>
#include <stdio.h>

#include "lockstep.h"

#define ITERATIONS 200000u

/* 64-bit finaliser-style mixing: every input bit affects every output bit,
 * so a single differing read anywhere changes the final value. */
static uint64_t fold(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}

int main(void)
{
    uint64_t h = 0;
    uint64_t last_time = 0, last_mtime = 0, last_rtc = 0;
    uint32_t backwards = 0;

    for (uint32_t i = 0; i < ITERATIONS; i++) {
        uint64_t t_csr = rdtime64();
        uint64_t t_mmio = mtime();
        uint32_t r = rng();
        h = fold(h, t_csr);
        h = fold(h, t_mmio);
        h = fold(h, r);
        backwards += t_csr < last_time;
        backwards += t_mmio < last_mtime;
        last_time = t_csr;
        last_mtime = t_mmio;

        /* The RTC is a slower device path; sample it on a subset of
         * iterations, picked by the RNG so the pattern itself varies. */
        if ((r & 7) == 0) {
            uint64_t wall = rtc_ns();
            h = fold(h, wall);
            backwards += wall < last_rtc;
            last_rtc = wall;
        }
    }

    printf("clockrng: %u iterations, last mtime=%llu rtc_ns=%llu\n",
           (unsigned)ITERATIONS, (unsigned long long)last_mtime,
           (unsigned long long)last_rtc);
    printf("mix: 0x%08lx%08lx\n", (unsigned long)(h >> 32), (unsigned long)h);
    if (backwards) {
        printf("clockrng: %lu clock reads went backwards\n", (unsigned long)backwards);
        return 1;
    }
    return 0;
}
