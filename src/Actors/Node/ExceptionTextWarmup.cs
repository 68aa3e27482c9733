namespace Lockstep.Actors.Node;

/// <summary>
/// Formats one exception with its stack trace at node start. The first <see cref="Exception.ToString"/> in a process
/// loads the runtime's stack-trace and symbol reading (30–38 ms of CPU on this machine, measured cold); otherwise the
/// first one comes at the first fault, when every survivor's Akka.Remote logs the dead node's association failure with
/// its exception, on two cores beside the takeover.
/// </summary>
internal static class ExceptionTextWarmup
{
    public static int Run()
    {
        try
        {
            throw new InvalidOperationException("warming the stack-trace formatting");
        }
        catch (InvalidOperationException e)
        {
            return e.ToString().Length;
        }
    }
}
