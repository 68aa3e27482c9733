namespace Lockstep.Harness;

/// <summary>
/// What a client sends with each copy of a request: its session, the request's ordinal in it, and the mark
/// below which every request of the session has been answered. These are the three numbers of the cluster's
/// DeliveryTag (the harness does without the cluster's assemblies); see docs/architecture.md, "Late copies
/// of answered requests stay out".
/// </summary>
public readonly record struct KvTag(long Session, long Ordinal, long AnsweredBelow);
