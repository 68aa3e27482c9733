namespace Lockstep.Cluster.Tests;

public static class TestPaths
{
    /// <summary>Parent of every folder these tests make; one per user so runs of different users never clash.</summary>
    public static string Root { get; } = CreateRoot();

    private static string CreateRoot()
    {
        string root = Path.Combine(Path.GetTempPath(), $"lockstep-cluster-tests-{Environment.UserName}");
        Directory.CreateDirectory(root);
        return root;
    }
}
