/*
 * spin - a hostile guest: interrupts off and a tight loop that never ends,
 * never sleeps and makes no output. Only the scheduler's slice (a bound on
 * instructions per step, compiled code included) gives its VM thread back.
 */
#include <stdint.h>

#include "lockstep.h"

int main(void)
{
    csr_clear(mstatus, MSTATUS_MIE);
    for (volatile uint32_t n = 0;; n++) {
    }
}
