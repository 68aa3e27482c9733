/*
 * flood - a hostile guest: interrupts off, never sleeps, never reads its
 * packets, and transmits as fast as it can: a 1 KiB packet to one of 4096
 * peers in turn and a console byte, forever. It exists to show that such a
 * guest costs its node bounded memory (counted drops, not queues) and that
 * the other VMs on the node still get their turn (the scheduler's slices).
 */
#include <stdint.h>

#include "lockstep.h"

#define PACKET 1024u
#define PEERS  4096u

static uint8_t packet[PACKET];

int main(void)
{
    csr_clear(mstatus, MSTATUS_MIE);
    for (uint32_t i = 0; i < PACKET; i++)
        packet[i] = (uint8_t)i;
    for (uint32_t n = 0;; n++) {
        packet[0] = (uint8_t)n;
        net_send(n % PEERS, packet, PACKET);
        uart_putc((char)('a' + n % 26));
    }
}
