namespace Lockstep.Host.Demo;

/// <summary>The demo cannot go on (the cluster never came up, the VM never became Protected); the message says why.</summary>
public sealed class DemoAbortedException(string message) : Exception(message);
