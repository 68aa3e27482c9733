/*
 * Lockstep guest start-up.
 *
 * The machine starts at e_entry with every register zero and nothing set
 * up, so this must establish the C environment by hand. The only CSR it
 * touches is mtvec (so a stray fault reports itself instead of jumping to
 * address 0); interrupts stay disabled until a guest turns them on.
 */
    .section .text.start, "ax", @progbits
    .globl _start
    .type _start, @function
_start:
    /* gp must be loaded without relaxation, or the assembler would try to
     * compute gp relative to itself. */
    .option push
    .option norelax
    la      gp, __global_pointer$
    .option pop

    la      sp, __stack_top
    la      tp, __tls_base

    /* The ELF loader leaves .bss (NOBITS) alone; clearing it is our job.
     * The linker script keeps both ends 8-byte aligned. */
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    sw      zero, 4(t0)
    addi    t0, t0, 8
    j       1b
2:
    la      t0, trap_entry
    csrw    mtvec, t0

    call    __libc_init_array

    li      a0, 0               /* argc */
    li      a1, 0               /* argv */
    li      a2, 0               /* envp */
    call    main

    /* Returning from main is exit(status): runs atexit/fini handlers, then
     * _exit() (console.c) writes the status to the test finisher. */
    call    exit
3:  j       3b
    .size _start, . - _start
