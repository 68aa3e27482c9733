namespace Lockstep.Host.Cli;

/// <summary>Process exit statuses of the lockstep program (a guest's own exit code passes through `run`).</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Usage = 64;
    public const int BadInput = 65;
    public const int GuestFault = 70;
    public const int ReplayMismatch = 3;
    public const int Unavailable = 69;
}
