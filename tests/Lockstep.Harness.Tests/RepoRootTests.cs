namespace Lockstep.Harness.Tests;

public sealed class RepoRootTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lockstep-reporoot-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_tests_run_inside_the_repository()
    {
        Assert.True(File.Exists(Path.Combine(RepoRoot.Folder, "Lockstep.sln")));
        Assert.True(File.Exists(RepoRoot.Script));
        Assert.True(File.Exists(Path.Combine(RepoRoot.Hocon, "node.conf")));
    }

    [Fact]
    public void Both_markers_are_needed_and_the_nearest_folder_with_them_wins()
    {
        string nested = Directory.CreateDirectory(Path.Combine(_dir, "outer", "inner", "deep")).FullName;
        File.WriteAllText(Path.Combine(_dir, "outer", "Lockstep.sln"), "");
        Assert.Null(RepoRoot.TryFind(nested));

        File.WriteAllText(Path.Combine(_dir, "outer", "lockstep"), "");
        Assert.Equal(Path.Combine(_dir, "outer"), RepoRoot.Find(nested));
    }

    [Fact]
    public void No_repository_is_a_clear_error()
    {
        // The system's temporary folder is not inside a repository.
        string outside = Directory.CreateDirectory(Path.Combine(_dir, "x")).FullName;
        Assert.Null(RepoRoot.TryFind(outside));
        var error = Assert.Throws<DirectoryNotFoundException>(() => RepoRoot.Find(outside));
        Assert.Contains(outside, error.Message);
    }
}
