namespace Lockstep.Dashboard.Tests;

/// <summary>Every test class here shares one cluster: starting three nodes takes a while on a shared machine.</summary>
[CollectionDefinition(Name)]
public sealed class DashboardCollection : ICollectionFixture<DashboardCluster>
{
    public const string Name = "dashboard cluster";
}
