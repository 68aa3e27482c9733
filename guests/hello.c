/* Smallest useful guest: console output and a clean exit via the finisher. */
#include <stdio.h>

int main(void)
{
    printf("Hello from Lockstep!\n");
    printf("RV32IM guest, machine mode, exiting with status 0.\n");
    return 0;
}
