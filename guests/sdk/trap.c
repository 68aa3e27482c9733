/*
 * C side of the trap path: trap_entry (trap.S) saves the registers and
 * calls trap_dispatch(), which forwards to the guest's handler.
 */
#include "lockstep.h"

static volatile trap_handler_t current_handler;

void trap_set_handler(trap_handler_t handler)
{
    current_handler = handler;
}

/* Written with raw UART output rather than printf: the trap may have come
 * from inside stdio, or from a corrupted heap or stack. */
static void put_hex32(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    uart_puts("0x");
    for (int shift = 28; shift >= 0; shift -= 4)
        uart_putc(digits[(v >> shift) & 0xF]);
}

void trap_unhandled(const trap_frame_t *frame)
{
    uart_puts("\ntrap: unhandled mcause=");
    put_hex32(frame->mcause);
    uart_puts(" mepc=");
    put_hex32(frame->mepc);
    uart_puts(" mtval=");
    put_hex32(frame->mtval);
    uart_puts("\n");

    uint32_t code = frame->mcause & 0x3Fu;
    lockstep_exit((frame->mcause & MCAUSE_INTERRUPT) ? (0xC0u | code) : (0x80u | code));
}

void trap_dispatch(trap_frame_t *frame);

void trap_dispatch(trap_frame_t *frame)
{
    trap_handler_t handler = current_handler;
    if (handler)
        handler(frame);
    else
        trap_unhandled(frame);
}
