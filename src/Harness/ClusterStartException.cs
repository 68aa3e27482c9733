namespace Lockstep.Harness;

/// <summary>The nodes of a <see cref="NodeCluster"/> did not form a cluster: one ended early, or they were not all Up in time.</summary>
public sealed class ClusterStartException(string message) : Exception(message);
