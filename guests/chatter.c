/*
 * chatter - a console that never stops.
 *
 * Prints "chatter line N" every 5 ms of mtime, N counting from 1, forever: a steady console
 * stream for `vm console --follow`, in which a repeated or a missing byte after a failover
 * shows as a line number out of order. Sleeps in wfi between lines.
 */
#include <stdint.h>
#include <stdio.h>

#include "lockstep.h"

#define LINE_PERIOD (LS_MTIME_HZ / 200)    /* 5 ms */

static volatile uint32_t ticks_fired;
static uint64_t next_deadline;

static void on_trap(trap_frame_t *frame)
{
    if (frame->mcause != MCAUSE_MTI)
        trap_unhandled(frame);
    ticks_fired++;
    next_deadline += LINE_PERIOD;
    uint64_t now = mtime();
    if (next_deadline <= now)
        next_deadline = now + LINE_PERIOD;
    set_timer(next_deadline);
}

int main(void)
{
    trap_set_handler(on_trap);
    next_deadline = mtime() + LINE_PERIOD;
    set_timer(next_deadline);
    irq_source_enable(MIE_MTIE);

    uint32_t printed = 0;
    for (;;) {
        /* Check-then-sleep with MIE off, so a tick between the check and wfi is not lost. */
        irq_global_disable();
        if (ticks_fired == printed)
            wfi();
        irq_global_enable();
        irq_global_disable();
        uint32_t due = ticks_fired;
        irq_global_enable();
        while (printed < due) {
            printed++;
            printf("chatter line %lu\n", (unsigned long)printed);
        }
    }
}
