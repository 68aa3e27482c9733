/*
 * Common trap entry for Lockstep guests (mtvec direct mode).
 *
 * Saves the complete integer register file into a trap_frame_t on the
 * current stack, hands it to trap_dispatch() in C, and restores from the
 * frame afterwards. Because the C side receives every register and mepc by
 * pointer, a handler can inspect or rewrite them (e.g. skip an ecall by
 * advancing mepc). Layout must match trap_frame_t in lockstep.h.
 */
#define FRAME_REGS   32
#define FRAME_SIZE   (4 * (FRAME_REGS + 4))   /* x0..x31, mepc, mcause, mtval, mstatus */
#define OFF_MEPC     (4 * 32)
#define OFF_MCAUSE   (4 * 33)
#define OFF_MTVAL    (4 * 34)
#define OFF_MSTATUS  (4 * 35)

    .section .text.trap, "ax", @progbits
    .align  4                   /* mtvec's low two bits are the mode field */
    .globl  trap_entry
    .type   trap_entry, @function
trap_entry:
    addi    sp, sp, -FRAME_SIZE
    sw      x1,   1*4(sp)
    sw      x3,   3*4(sp)
    sw      x4,   4*4(sp)
    sw      x5,   5*4(sp)
    sw      x6,   6*4(sp)
    sw      x7,   7*4(sp)
    sw      x8,   8*4(sp)
    sw      x9,   9*4(sp)
    sw      x10, 10*4(sp)
    sw      x11, 11*4(sp)
    sw      x12, 12*4(sp)
    sw      x13, 13*4(sp)
    sw      x14, 14*4(sp)
    sw      x15, 15*4(sp)
    sw      x16, 16*4(sp)
    sw      x17, 17*4(sp)
    sw      x18, 18*4(sp)
    sw      x19, 19*4(sp)
    sw      x20, 20*4(sp)
    sw      x21, 21*4(sp)
    sw      x22, 22*4(sp)
    sw      x23, 23*4(sp)
    sw      x24, 24*4(sp)
    sw      x25, 25*4(sp)
    sw      x26, 26*4(sp)
    sw      x27, 27*4(sp)
    sw      x28, 28*4(sp)
    sw      x29, 29*4(sp)
    sw      x30, 30*4(sp)
    sw      x31, 31*4(sp)
    /* Record the interrupted sp (as it was before this frame) and a zero
     * for x0, so frame->x[] reads exactly like the register file. */
    addi    t0, sp, FRAME_SIZE
    sw      t0,   2*4(sp)
    sw      zero, 0*4(sp)

    csrr    t0, mepc
    sw      t0, OFF_MEPC(sp)
    csrr    t0, mcause
    sw      t0, OFF_MCAUSE(sp)
    csrr    t0, mtval
    sw      t0, OFF_MTVAL(sp)
    csrr    t0, mstatus
    sw      t0, OFF_MSTATUS(sp)

    mv      a0, sp
    call    trap_dispatch

    /* Handlers may have changed the return address or the MPIE/MPP bits
     * (e.g. to keep interrupts off after mret), so write both back. */
    lw      t0, OFF_MEPC(sp)
    csrw    mepc, t0
    lw      t0, OFF_MSTATUS(sp)
    csrw    mstatus, t0

    lw      x1,   1*4(sp)
    lw      x3,   3*4(sp)
    lw      x4,   4*4(sp)
    lw      x5,   5*4(sp)
    lw      x6,   6*4(sp)
    lw      x7,   7*4(sp)
    lw      x8,   8*4(sp)
    lw      x9,   9*4(sp)
    lw      x10, 10*4(sp)
    lw      x11, 11*4(sp)
    lw      x12, 12*4(sp)
    lw      x13, 13*4(sp)
    lw      x14, 14*4(sp)
    lw      x15, 15*4(sp)
    lw      x16, 16*4(sp)
    lw      x17, 17*4(sp)
    lw      x18, 18*4(sp)
    lw      x19, 19*4(sp)
    lw      x20, 20*4(sp)
    lw      x21, 21*4(sp)
    lw      x22, 22*4(sp)
    lw      x23, 23*4(sp)
    lw      x24, 24*4(sp)
    lw      x25, 25*4(sp)
    lw      x26, 26*4(sp)
    lw      x27, 27*4(sp)
    lw      x28, 28*4(sp)
    lw      x29, 29*4(sp)
    lw      x30, 30*4(sp)
    lw      x31, 31*4(sp)
    addi    sp, sp, FRAME_SIZE
    mret
    .size trap_entry, . - trap_entry
