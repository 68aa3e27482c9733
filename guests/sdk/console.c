/*
 * picolibc stdio bound to the Lockstep UART, and the _exit() hook that
 * turns exit()/return-from-main into a test-finisher write.
 *
 * The streams are unbuffered: each character goes straight to the UART, so
 * output is never lost when the machine halts and nothing needs flushing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "lockstep.h"

static int console_put(char c, FILE *stream)
{
    (void)stream;
    uart_putc(c);
    return (unsigned char)c;
}

/* The console has no input path in the machine contract. */
static int console_get(FILE *stream)
{
    (void)stream;
    return EOF;
}

static FILE console = FDEV_SETUP_STREAM(console_put, console_get, NULL, _FDEV_SETUP_RW);

FILE *const stdin = &console;
FILE *const stdout = &console;
FILE *const stderr = &console;

void _exit(int status)
{
    lockstep_exit((uint32_t)status);
}
