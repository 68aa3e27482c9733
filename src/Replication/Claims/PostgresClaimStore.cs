using System.Data.Common;
using Npgsql;

namespace Lockstep.Replication.Claims;

/// <summary>Claims in the PostgreSQL database that nodes on several hosts share with their journal.</summary>
public sealed class PostgresClaimStore : ClaimStore
{
    private readonly NpgsqlDataSource _dataSource;

    public PostgresClaimStore(string connectionString)
    {
        _dataSource = NpgsqlDataSource.Create(connectionString);
        Initialize(CreateTable);
    }

    protected override DbConnection Open() => _dataSource.OpenConnection();
}
