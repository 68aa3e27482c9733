namespace Lockstep.Engine.Loading;

/// <summary>An image that cannot be loaded; the message says why in one line.</summary>
public sealed class ImageException(string message) : Exception(message);
