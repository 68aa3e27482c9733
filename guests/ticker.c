/*
 * ticker - periodic timer interrupts.
 *
 * Arms the CLINT for a tick every 10 ms of mtime, sleeps in wfi between
 * ticks, and on each tick prints the tick number followed by mtime and the
 * RTC. Exits 0 after 20 ticks. The "tick N" prefix is deterministic; the
 * times are not (that is what a replay has to reproduce).
 */
#include <stdint.h>
#include <stdio.h>

#include "lockstep.h"

#define TICK_PERIOD (LS_MTIME_HZ / 100)    /* 10 ms */
#define TICKS       20

static volatile uint32_t ticks_fired;
static uint64_t next_deadline;

static void on_trap(trap_frame_t *frame)
{
    if (frame->mcause != MCAUSE_MTI)
        trap_unhandled(frame);
    ticks_fired++;
    /* Schedule from the previous deadline rather than from "now" so that
     * interrupt latency does not accumulate into drift. If we fell behind
     * by more than a period, skip ahead instead of firing a burst. */
    next_deadline += TICK_PERIOD;
    uint64_t now = mtime();
    if (next_deadline <= now)
        next_deadline = now + TICK_PERIOD;
    set_timer(next_deadline);
}

int main(void)
{
    trap_set_handler(on_trap);

    /* mtimecmp's reset value is unspecified: program it before MTIE. */
    uint64_t start = mtime();
    next_deadline = start + TICK_PERIOD;
    set_timer(next_deadline);
    irq_source_enable(MIE_MTIE);

    printf("ticker: %u ticks of %u mtime units\n", TICKS, (unsigned)TICK_PERIOD);

    uint32_t printed = 0;
    while (printed < TICKS) {
        /* Check-then-sleep with MIE off so a tick arriving between the
         * check and wfi cannot be lost; the handler runs once MIE is set. */
        irq_global_disable();
        if (ticks_fired == printed)
            wfi();
        irq_global_enable();
        irq_global_disable();

        while (printed < ticks_fired && printed < TICKS) {
            printed++;
            uint64_t now = mtime();
            uint64_t wall = rtc_ns();
            printf("tick %lu mtime=%llu rtc_ns=%llu\n", (unsigned long)printed,
                   (unsigned long long)now, (unsigned long long)wall);
        }
    }

    irq_source_disable(MIE_MTIE);
    timer_disarm();
    uint64_t elapsed = mtime() - start;
    printf("ticker: done after %llu mtime units\n", (unsigned long long)elapsed);
    return 0;
}
