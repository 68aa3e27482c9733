/*
 * lockstep.h - the Lockstep machine as seen from a C guest.
 *
 * Device addresses and small inline helpers for everything the machine
 * offers: console UART, test finisher, RTC, CLINT timer, network device and
 * RNG, plus CSR access and interrupt control. Everything here is a thin,
 * header-only wrapper; the only out-of-line parts of the SDK are crt0.S,
 * trap.S/trap.c (interrupt/exception entry) and console.c (stdio).
 */
#ifndef LOCKSTEP_H
#define LOCKSTEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Memory map ------------------------------------------------------- */

#define LS_RAM_BASE        0x80000000u

#define LS_FINISHER_BASE   0x00100000u  /* SiFive test finisher */
#define LS_RTC_BASE        0x00101000u  /* goldfish RTC */
#define LS_CLINT_BASE      0x02000000u
#define LS_UART_BASE       0x10000000u  /* NS16550A subset */
#define LS_NET_BASE        0x11000000u
#define LS_RNG_BASE        0x11001000u

#define LS_FINISHER_PASS   0x5555u
#define LS_FINISHER_FAIL   0x3333u

#define LS_UART_THR        0x00u
#define LS_UART_LSR        0x05u
#define LS_UART_LSR_THRE   0x20u

#define LS_RTC_TIME_LOW    0x00u
#define LS_RTC_TIME_HIGH   0x04u

#define LS_CLINT_MTIMECMP  0x4000u
#define LS_CLINT_MTIME     0xBFF8u
#define LS_MTIME_HZ        10000000u    /* mtime ticks per second */

#define LS_NET_RX_COUNT    0x00u
#define LS_NET_RX_LEN      0x04u
#define LS_NET_RX_PEER     0x08u
#define LS_NET_RX_ADDR     0x0Cu
#define LS_NET_RX_POP      0x10u
#define LS_NET_TX_ADDR     0x14u
#define LS_NET_TX_LEN      0x18u
#define LS_NET_TX_PEER     0x1Cu
#define LS_NET_TX_SEND     0x20u
#define LS_NET_IRQ_ENABLE  0x24u
#define LS_NET_MAX_PACKET  65536u

/* ---- CSRs and interrupt bits ------------------------------------------ */

#define MSTATUS_MIE        (1u << 3)
#define MSTATUS_MPIE       (1u << 7)

#define MIE_MTIE           (1u << 7)
#define MIE_MEIE           (1u << 11)

#define MCAUSE_INTERRUPT   0x80000000u
#define MCAUSE_MTI         (MCAUSE_INTERRUPT | 7u)
#define MCAUSE_MEI         (MCAUSE_INTERRUPT | 11u)
#define MCAUSE_ILLEGAL     2u
#define MCAUSE_BREAKPOINT  3u
#define MCAUSE_LOAD_FAULT  5u
#define MCAUSE_STORE_FAULT 7u
#define MCAUSE_ECALL_M     11u

#define LS_STR_(x) #x
#define LS_STR(x)  LS_STR_(x)

#define csr_read(csr) ({                                                    \
        uint32_t v_;                                                        \
        __asm__ volatile("csrr %0, " LS_STR(csr) : "=r"(v_) :: "memory");   \
        v_; })
#define csr_write(csr, val)                                                 \
        __asm__ volatile("csrw " LS_STR(csr) ", %0" :: "rK"((uint32_t)(val)) : "memory")
#define csr_set(csr, bits)                                                  \
        __asm__ volatile("csrs " LS_STR(csr) ", %0" :: "rK"((uint32_t)(bits)) : "memory")
#define csr_clear(csr, bits)                                                \
        __asm__ volatile("csrc " LS_STR(csr) ", %0" :: "rK"((uint32_t)(bits)) : "memory")

/*
 * 64-bit counters on RV32 live in two CSRs. Re-reading the high half
 * catches a carry out of the low half between the two reads.
 */
#define LS_CSR_READ64(lo, hi) ({                                            \
        uint32_t h_, l_, h2_;                                               \
        do {                                                                \
            h_  = csr_read(hi);                                             \
            l_  = csr_read(lo);                                             \
            h2_ = csr_read(hi);                                             \
        } while (h_ != h2_);                                                \
        ((uint64_t)h_ << 32) | l_; })

static inline uint64_t rdcycle64(void)   { return LS_CSR_READ64(mcycle, mcycleh); }
static inline uint64_t rdinstret64(void) { return LS_CSR_READ64(minstret, minstreth); }
static inline uint64_t rdtime64(void)    { return LS_CSR_READ64(time, timeh); }

/* ---- MMIO ------------------------------------------------------------- */

/*
 * The "memory" clobbers order MMIO against ordinary memory accesses: the
 * network device reads and writes guest RAM directly, so buffers must be
 * written before TX_SEND and must not be cached in registers across RX_POP.
 */
static inline uint32_t mmio_read32(uintptr_t addr)
{
    uint32_t v;
    __asm__ volatile("lw %0, 0(%1)" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
    __asm__ volatile("sw %0, 0(%1)" :: "r"(v), "r"(addr) : "memory");
}

static inline uint8_t mmio_read8(uintptr_t addr)
{
    uint32_t v;
    __asm__ volatile("lbu %0, 0(%1)" : "=r"(v) : "r"(addr) : "memory");
    return (uint8_t)v;
}

static inline void mmio_write8(uintptr_t addr, uint8_t v)
{
    __asm__ volatile("sb %0, 0(%1)" :: "r"(v), "r"(addr) : "memory");
}

/* ---- Console ---------------------------------------------------------- */

static inline void uart_putc(char c)
{
    /* Lockstep's UART is always ready (LSR reads 0x60); polling THRE keeps
     * the code correct on a real 16550 and costs one read per byte. */
    while (!(mmio_read8(LS_UART_BASE + LS_UART_LSR) & LS_UART_LSR_THRE))
        ;
    mmio_write8(LS_UART_BASE + LS_UART_THR, (uint8_t)c);
}

static inline void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

/* ---- Halting ---------------------------------------------------------- */

/* Stop the machine with an exit status (0..65535). Returning from main, or
 * calling exit(), ends up here too. */
static inline __attribute__((noreturn)) void lockstep_exit(uint32_t code)
{
    uint32_t cmd = code == 0 ? LS_FINISHER_PASS
                             : ((code & 0xFFFFu) << 16) | LS_FINISHER_FAIL;
    mmio_write32(LS_FINISHER_BASE, cmd);
    for (;;)
        __asm__ volatile("wfi");
}

/* ---- Time ------------------------------------------------------------- */

/* Wall-clock nanoseconds since the Unix epoch. Reading TIME_LOW latches
 * TIME_HIGH, so the order matters and the pair is consistent. */
static inline uint64_t rtc_ns(void)
{
    uint32_t lo = mmio_read32(LS_RTC_BASE + LS_RTC_TIME_LOW);
    uint32_t hi = mmio_read32(LS_RTC_BASE + LS_RTC_TIME_HIGH);
    return ((uint64_t)hi << 32) | lo;
}

/* mtime via the CLINT (10 MHz). Same carry-safe hi/lo/hi read as the CSRs;
 * rdtime64() returns the same clock through the time CSR. */
static inline uint64_t mtime(void)
{
    uint32_t hi, lo, hi2;
    do {
        hi  = mmio_read32(LS_CLINT_BASE + LS_CLINT_MTIME + 4);
        lo  = mmio_read32(LS_CLINT_BASE + LS_CLINT_MTIME);
        hi2 = mmio_read32(LS_CLINT_BASE + LS_CLINT_MTIME + 4);
    } while (hi != hi2);
    return ((uint64_t)hi << 32) | lo;
}

/*
 * Program mtimecmp. Writing the halves one at a time can momentarily form
 * a value earlier than both the old and new deadlines and raise a spurious
 * MTIP; parking the high half at all-ones first prevents that. Guests must
 * call this before enabling MTIE: the reset value of mtimecmp is not
 * something to rely on.
 */
static inline void set_timer(uint64_t when)
{
    mmio_write32(LS_CLINT_BASE + LS_CLINT_MTIMECMP + 4, 0xFFFFFFFFu);
    mmio_write32(LS_CLINT_BASE + LS_CLINT_MTIMECMP, (uint32_t)when);
    mmio_write32(LS_CLINT_BASE + LS_CLINT_MTIMECMP + 4, (uint32_t)(when >> 32));
}

/* A deadline that never arrives: clears a pending MTIP. */
static inline void timer_disarm(void)
{
    set_timer(UINT64_MAX);
}

/* ---- RNG -------------------------------------------------------------- */

static inline uint32_t rng(void)
{
    return mmio_read32(LS_RNG_BASE);
}

/* ---- Network ---------------------------------------------------------- */

static inline uint32_t net_reg_read(uint32_t off)       { return mmio_read32(LS_NET_BASE + off); }
static inline void net_reg_write(uint32_t off, uint32_t v) { mmio_write32(LS_NET_BASE + off, v); }

/* Packets waiting in the receive queue. */
static inline uint32_t net_rx_count(void) { return net_reg_read(LS_NET_RX_COUNT); }

/*
 * Take the head packet: copies at most cap bytes into buf and drops the
 * packet. Returns the packet's full length (larger than cap means it was
 * truncated), or -1 if the queue is empty. *peer receives the sender.
 */
static inline int32_t net_recv(void *buf, uint32_t cap, uint32_t *peer)
{
    uint32_t len = net_reg_read(LS_NET_RX_LEN);
    if (len == 0 && net_rx_count() == 0)
        return -1;
    if (peer)
        *peer = net_reg_read(LS_NET_RX_PEER);
    net_reg_write(LS_NET_RX_ADDR, (uint32_t)(uintptr_t)buf);
    net_reg_write(LS_NET_RX_POP, cap);
    return (int32_t)len;
}

/* Send len bytes from buf as one packet to peer. The device copies the
 * data during the TX_SEND write, so buf may be reused immediately. */
static inline void net_send(uint32_t peer, const void *buf, uint32_t len)
{
    net_reg_write(LS_NET_TX_ADDR, (uint32_t)(uintptr_t)buf);
    net_reg_write(LS_NET_TX_LEN, len);
    net_reg_write(LS_NET_TX_PEER, peer);
    net_reg_write(LS_NET_TX_SEND, 1);
}

/* While enabled, MEIP is pending whenever the receive queue is non-empty. */
static inline void net_irq_enable(bool on)
{
    net_reg_write(LS_NET_IRQ_ENABLE, on ? 1u : 0u);
}

/* ---- Interrupts ------------------------------------------------------- */

static inline void irq_global_enable(void)  { csr_set(mstatus, MSTATUS_MIE); }
static inline void irq_global_disable(void) { csr_clear(mstatus, MSTATUS_MIE); }
static inline void irq_source_enable(uint32_t mie_bits)  { csr_set(mie, mie_bits); }
static inline void irq_source_disable(uint32_t mie_bits) { csr_clear(mie, mie_bits); }

/*
 * Sleep until an interrupt enabled in mie is pending. Per the privileged
 * spec this wakes even while mstatus.MIE is 0, which is what makes the
 * race-free sleep pattern below work:
 *
 *     irq_global_disable();
 *     if (!work_available())
 *         wfi();               // cannot miss a wake-up: MIE is off
 *     irq_global_enable();     // the pending interrupt is taken here
 *     irq_global_disable();
 */
static inline void wfi(void)
{
    __asm__ volatile("wfi" ::: "memory");
}

/* ---- Traps (trap.S / trap.c) ------------------------------------------ */

/* Register state at trap time, as saved by trap_entry. The handler may
 * change mepc (where mret returns to), mstatus (written back before mret)
 * and any x[] except x[0] and x[2] (sp). */
typedef struct trap_frame {
    uint32_t x[32];
    uint32_t mepc;
    uint32_t mcause;
    uint32_t mtval;
    uint32_t mstatus;
} trap_frame_t;

typedef void (*trap_handler_t)(trap_frame_t *frame);

/*
 * Install the C handler for every trap (interrupts and exceptions). crt0
 * already points mtvec at trap_entry; with no handler installed, any trap
 * is reported on the console and the machine halts via trap_unhandled().
 * Handlers should call trap_unhandled() for causes they do not expect.
 */
void trap_set_handler(trap_handler_t handler);

/* Print the trap and halt with status 0x80|code for exceptions,
 * 0xC0|code for interrupts. */
__attribute__((noreturn)) void trap_unhandled(const trap_frame_t *frame);

/* Entry point written in assembly; exposed for guests that reinstall it. */
void trap_entry(void);

#endif /* LOCKSTEP_H */
