using Durable.Scheduling.PostgreSql;
using Durable.Scheduling.Storage;
using Durable.Scheduling.Tests.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.PostgreSql;

/// <summary>
/// What the PostgreSQL store does beyond the shared contract, against a real server: migrations under an advisory
/// lock, foreign and newer schemas refused, leases judged by the database's clock, injection-proof values, failures
/// mapped to the contract, notifications between instances, and the options and DI surface.
/// </summary>
[TestFixture]
[NonParallelizable] // some tests cut connections or restart the shared server
public sealed class PostgreSqlStoreBehaviourTests
{
    private static readonly DateTimeOffset s_now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly List<(PostgreSqlSchedulingStore Store, string Schema)> _stores = [];

    [TearDown]
    public async Task DropStores()
    {
        var stores = _stores.ToList();
        _stores.Clear();
        foreach (var (store, schema) in stores)
        {
            await store.DisposeAsync();
            await PostgreSqlTestStores.DropSchemaAsync(schema);
        }
    }

    private async Task<PostgreSqlSchedulingStore> StoreAsync(string? schema = null, bool notifications = true)
    {
        schema ??= PostgreSqlTestStores.NewSchema();
        var store = await PostgreSqlTestStores.CreateAsync(schema, notifications);
        _stores.Add((store, schema));
        return store;
    }

    private static ScheduledRun Run(DateTimeOffset at, string workflow = "wf", string? key = null, string? input = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var id = Guid.NewGuid();
        return new ScheduledRun
        {
            Id = id,
            WorkflowName = workflow,
            Kind = RunKind.OneTime,
            IdempotencyKey = RunKeys.OneTime(workflow, key, id),
            ScheduledTime = at,
            DueTime = at,
            Status = RunStatus.Pending,
            Input = input,
            Metadata = metadata ?? new Dictionary<string, string>(),
            CreatedAt = at,
        };
    }

    private static async Task<object?> ScalarAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(await PostgreSqlServer.ConnectionStringAsync() + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    [Test]
    public async Task TenInstancesStartingAtOnce_MigrateTheSchemaOnce()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        var stores = new List<PostgreSqlSchedulingStore>();
        for (int i = 0; i < 10; i++)
        {
            stores.Add(await StoreAsync(schema));
        }

        await Task.WhenAll(stores.Select(s => Task.Run(async () => await s.GetWatermarkAsync("probe", default))));

        (await ScalarAsync($"SELECT count(*) FROM \"{schema}\".ds_schema")).Should().Be(1L);
        (await ScalarAsync($"SELECT version FROM \"{schema}\".ds_schema")).Should().Be(PostgreSqlSchema.Latest);
        (await stores[3].InsertAsync([Run(s_now)], default)).Single().Created.Should().BeTrue();
    }

    [Test]
    public async Task ANewerSchema_IsRefused_NamingDatabaseSchemaAndVersions_AndLeftAlone()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        var first = await StoreAsync(schema);
        await first.GetWatermarkAsync("probe", default);
        await ScalarAsync($"UPDATE \"{schema}\".ds_schema SET version = 99");

        var second = await StoreAsync(schema);
        var refused = await FluentActions.Awaiting(async () => await second.GetWatermarkAsync("probe", default))
            .Should().ThrowAsync<PostgreSqlSchemaException>();
        refused.Which.Should().BeAssignableTo<StoreUnusableException>("it fails start-up rather than being retried");
        refused.Which.FoundVersion.Should().Be(99);
        refused.Which.SupportedVersion.Should().Be(PostgreSqlSchema.Latest);
        refused.Which.Schema.Should().Be(schema);
        refused.Which.Database.Should().Be("postgres");
        refused.Which.Message.Should().Contain(schema).And.Contain("postgres").And.Contain("99");
        (await ScalarAsync($"SELECT version FROM \"{schema}\".ds_schema")).Should().Be(99, "nothing was modified");
    }

    [Test]
    public async Task AnotherProgramsTables_AreRefused_AndLeftAlone()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        await ScalarAsync($"CREATE SCHEMA \"{schema}\"; CREATE TABLE \"{schema}\".runs (x int); INSERT INTO \"{schema}\".runs VALUES (7)");
        var store = await StoreAsync(schema);
        var refused = await FluentActions.Awaiting(async () => await store.InsertAsync([Run(s_now)], default)).Should().ThrowAsync<PostgreSqlSchemaException>();
        refused.Which.FoundVersion.Should().BeNull();
        refused.Which.Message.Should().Contain("runs");
        (await ScalarAsync($"SELECT x FROM \"{schema}\".runs")).Should().Be(7);
        (await ScalarAsync($"SELECT to_regclass('\"{schema}\".ds_schema')::text")).Should().Be(DBNull.Value, "nothing was created");
    }

    [Test]
    public async Task ALeaseIsTakenOverOnlyWhenTheDatabasesClockSaysItExpired_NotAClaimerWhoseClockRunsAhead()
    {
        var store = await StoreAsync();
        var run = Run(s_now);
        await store.InsertAsync([run], default);
        var lease = (await store.ClaimAsync([run.Id], s_now, TimeSpan.FromMinutes(5), "honest", default)).Single();

        // A claimer whose clock is an hour ahead sees the lease as expired by its own instant; the database does not.
        var skewed = s_now.AddHours(1);
        (await store.GetExpiredLeasesAsync(skewed, 10, default)).Should().BeEmpty();
        (await store.ClaimAsync([run.Id], skewed, TimeSpan.FromMinutes(5), "skewed", default)).Should().BeEmpty();

        // Shortening the lease to nothing (a renewal moves the database's expiry by as much as the holder's) lets it go.
        (await store.RenewAsync(run.Id, lease.Token, s_now, default)).Should().BeTrue();
        (await store.ClaimAsync([run.Id], skewed, TimeSpan.FromMinutes(5), "skewed", default)).Should().ContainSingle()
            .Which.Run.Attempt.Should().Be(2);
        (await store.CompleteAsync([new RunCompletion(run.Id, lease.Token, RunStatus.Succeeded, s_now)], default)).Should().Equal(false);
    }

    [Test]
    public async Task ARenewalExtendsTheDatabasesExpiry_ByAsMuchAsTheHolderExtendedItsOwn()
    {
        var store = await StoreAsync();
        var run = Run(s_now);
        await store.InsertAsync([run], default);
        var lease = (await store.ClaimAsync([run.Id], s_now, TimeSpan.FromMilliseconds(100), "holder", default)).Single();
        (await store.RenewAsync(run.Id, lease.Token, s_now.AddMinutes(10), default)).Should().BeTrue();
        await Task.Delay(300); // the lease's original length has passed on every clock

        (await store.ClaimAsync([run.Id], s_now.AddHours(1), TimeSpan.FromMinutes(1), "other", default)).Should().BeEmpty("the renewal moved it ten minutes on");
        object? remaining = await ScalarAsync($"SELECT extract(epoch FROM lease_db_expires - clock_timestamp()) FROM \"{_stores[0].Schema}\".runs");
        Convert.ToDouble(remaining, System.Globalization.CultureInfo.InvariantCulture).Should().BeInRange(500, 601);
    }

    /// <summary>Values that would break SQL built by concatenation: each must round-trip as data.</summary>
    private static readonly string[] s_injection =
    [
        "'; DROP TABLE runs; --",
        "\" OR 1=1 --",
        "x'); DELETE FROM runs WHERE ('1'='1",
        "$1 $$ $tag$ :name @p ?",
        "\\\\ \\' \\\" \\n",
        "%_* [a-z]",
        "NUL\0inside \u0001 SOH",
        "unicode ☃ 𝄞 é",
        "{\"jsonb\": true} @> '{}'",
        "",
    ];

    [Test]
    public async Task AnInjectionCorpus_InEveryTextValue_RoundTripsAsData()
    {
        var store = await StoreAsync();
        for (int i = 0; i < s_injection.Length; i++)
        {
            string text = s_injection[i];
            string workflow = "wf-" + text;
            var metadata = new Dictionary<string, string> { ["k-" + text] = text, ["index"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            var run = Run(s_now.AddSeconds(i), workflow, key: "key-" + text, input: System.Text.Json.JsonSerializer.Serialize(text), metadata: metadata);
            (await store.InsertAsync([run], default)).Single().Created.Should().BeTrue();
            (await store.InsertAsync([run with { Id = Guid.NewGuid() }], default)).Single().Created.Should().BeFalse("same key: {0}", text);

            var stored = await store.GetAsync(run.Id, default);
            stored!.WorkflowName.Should().Be(workflow);
            stored.IdempotencyKey.Should().Be(run.IdempotencyKey);
            stored.Input.Should().Be(run.Input);
            stored.Metadata.Should().BeEquivalentTo(metadata);

            var listed = await store.ListAsync(new RunQuery { WorkflowName = workflow, Metadata = new Dictionary<string, string> { ["k-" + text] = text } }, default);
            listed.Items.Should().ContainSingle().Which.Id.Should().Be(run.Id);

            var lease = (await store.ClaimAsync([run.Id], s_now.AddMinutes(1), TimeSpan.FromMinutes(1), "owner-" + text, default)).Single();
            (await store.CompleteAsync([new RunCompletion(run.Id, lease.Token, RunStatus.Failed, s_now.AddMinutes(1), new RunError("type-" + text, "message-" + text))], default)).Should().Equal(true);
            (await store.GetAsync(run.Id, default))!.Error.Should().Be(new RunError("type-" + text, "message-" + text));
            await store.AdvanceWatermarkAsync("schedule-" + text, s_now.AddSeconds(i), default);
            (await store.GetWatermarkAsync("schedule-" + text, default)).Should().Be(s_now.AddSeconds(i));
        }

        (await store.ListAsync(new RunQuery { PageSize = 100 }, default)).Items.Should().HaveCount(s_injection.Length, "no statement was altered by a value");
        (await store.ListAsync(new RunQuery { ExcludedWorkflowNames = [.. s_injection.Select(t => "wf-" + t)] }, default)).Items.Should().BeEmpty();
    }

    [Test]
    public async Task ConnectionsCutByTheServer_FailOnlyAsIOException_AndTheStoreCarriesOn()
    {
        var store = await StoreAsync();
        var run = Run(s_now);
        await store.InsertAsync([run], default);
        var server = await PostgreSqlServer.GetAsync();
        await server.TerminateConnectionsAsync();

        var outcomes = new List<Exception?>();
        for (int i = 0; i < 3; i++)
        {
            try
            {
                await store.GetAsync(run.Id, default);
                outcomes.Add(null);
            }
            catch (Exception e)
            {
                outcomes.Add(e);
            }
        }

        outcomes.OfType<Exception>().Should().AllSatisfy(e => e.Should().BeAssignableTo<IOException>(e.ToString()));
        (await store.GetAsync(run.Id, default)).Should().NotBeNull("pooled connections the server closed are replaced");
        (await store.InsertAsync([Run(s_now)], default)).Single().Created.Should().BeTrue();
    }

    [Test]
    [Category("Slow")]
    public async Task AServerRestartedImmediately_LosesNothingAcknowledged_AndCallsMeanwhileFailAsIOException()
    {
        var server = await PostgreSqlServer.GetAsync();
        PostgreSqlServer.RequireOwned(server);

        var store = await StoreAsync();
        var runs = Enumerable.Range(0, 500).Select(i => Run(s_now.AddSeconds(i))).ToList();
        await store.InsertAsync(runs, default);
        var restart = server.RestartImmediateAsync();
        var errors = new List<Exception>();
        while (!restart.IsCompleted)
        {
            try
            {
                await store.GetDueAsync(s_now.AddDays(1), 10, null, default);
            }
            catch (Exception e)
            {
                errors.Add(e);
            }

            await Task.Delay(20);
        }

        await restart;
        errors.Should().AllSatisfy(e => (e is IOException || e is TimeoutException).Should().BeTrue(e.ToString()));
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                (await store.ListAsync(new RunQuery { PageSize = 1000 }, default)).Items.Should().HaveCount(500);
                break;
            }
            catch (IOException) when (attempt < 5)
            {
                // the first calls after the restart may meet pooled connections of the old server
            }
        }
    }

    [Test]
    public async Task ManyCallersOfThePlanningLockAtOnce_LeaveTheHolderAConnection()
    {
        // Each waiter waited on the server, holding a pooled connection: updates made in parallel took the whole pool,
        // and the holder could get none for its own statements until the pool's timeout.
        string schema = PostgreSqlTestStores.NewSchema();
        string connectionString = await PostgreSqlServer.ConnectionStringAsync() + ";Maximum Pool Size=4;Timeout=3";
        var options = new PostgreSqlSchedulingOptions { ConnectionString = connectionString, Schema = schema, Notifications = false };
        await using (var store = new PostgreSqlSchedulingStore(NpgsqlDataSource.Create(connectionString), ownsDataSource: true, options, TimeProvider.System, logger: null))
        {
            await store.GetAsync(Guid.NewGuid(), default); // the schema made
            await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
            {
                var planning = await store.EnterPlanningAsync(default);
                await using (planning)
                {
                    (await store.InsertAsync([Run(s_now.AddSeconds(i))], default)).Single().Created.Should().BeTrue();
                }
            })));
            (await store.ListAsync(new RunQuery { PageSize = 100 }, default)).Items.Should().HaveCount(16);
        }

        await PostgreSqlTestStores.DropSchemaAsync(schema);
    }

    [Test]
    public async Task TheConnectionStringsPassword_AppearsInNoErrorAndNoLog()
    {
        const string Password = "pw-s3cret-9f2";
        var logs = new CapturedLogs();
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddProvider(logs).SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddScheduling(o => o.WorkflowTypes.Add(typeof(EveryMinute)))
            .UsePostgreSql($"Host=127.0.0.1;Port=1;Username=nobody;Password={Password};Timeout=1");
        builder.Services.AddSingleton<RunLog>();
        using var host = builder.Build();
        await host.StartAsync(); // unreachable: start-up goes on and retries
        var store = host.Services.GetRequiredService<ISchedulingStore>();
        var error = await FluentActions.Awaiting(async () => await store.GetAsync(Guid.NewGuid(), default)).Should().ThrowAsync<IOException>();
        await host.StopAsync();

        for (Exception? e = error.Which; e is not null; e = e.InnerException)
        {
            e.Message.Should().NotContain(Password);
        }

        error.Which.Message.Should().Contain("127.0.0.1:1");
        logs.Entries.Should().NotBeEmpty();
        logs.Entries.Should().AllSatisfy(entry => entry.Message.Should().NotContain(Password));
        FluentActions.Invoking(() => new ServiceCollection().AddScheduling().UsePostgreSql($"Host=x;Pasword={Password}"))
            .Should().Throw<ArgumentException>().Which.Message.Should().NotContain(Password);
    }

    [Test]
    public async Task ASessionWithoutSynchronousCommit_IsWarnedAbout_OnceAtStartUp()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        string connectionString = await PostgreSqlServer.ConnectionStringAsync() + ";Options=-c synchronous_commit=off";
        var logs = new CapturedLogs();
        var store = new PostgreSqlSchedulingStore(NpgsqlDataSource.Create(connectionString), ownsDataSource: true,
            new PostgreSqlSchedulingOptions { ConnectionString = connectionString, Schema = schema }, TimeProvider.System, logs.CreateLogger("test"));
        _stores.Add((store, schema));
        await store.InsertAsync([Run(s_now)], default);
        await store.GetAsync(Guid.NewGuid(), default);

        logs.Entries.Where(e => e.Level == LogLevel.Warning && e.Message.Contains("synchronous_commit", StringComparison.Ordinal))
            .Should().ContainSingle("said once, at start-up");

        string plain = await PostgreSqlServer.ConnectionStringAsync();
        string durableSchema = PostgreSqlTestStores.NewSchema();
        var durable = new PostgreSqlSchedulingStore(NpgsqlDataSource.Create(plain), ownsDataSource: true,
            new PostgreSqlSchedulingOptions { ConnectionString = plain, Schema = durableSchema }, TimeProvider.System, logs.CreateLogger("test"));
        _stores.Add((durable, durableSchema));
        await durable.GetAsync(Guid.NewGuid(), default);
        logs.Entries.Count(e => e.Level == LogLevel.Warning).Should().Be(1, "the default (on) is not warned about");
    }

    [Test]
    public void Options_AreCheckedAtConfiguration_NamingTheOption()
    {
        var services = new ServiceCollection();
        FluentActions.Invoking(() => services.AddScheduling().UsePostgreSql(""))
            .Should().Throw<ArgumentException>().WithMessage("*ConnectionString*");
        FluentActions.Invoking(() => services.AddScheduling().UsePostgreSql("Host=x", o => o.Schema = "Bad-Name"))
            .Should().Throw<ArgumentException>().WithMessage("*Schema*Bad-Name*");
        FluentActions.Invoking(() => services.AddScheduling().UsePostgreSql(o => o.Schema = new string('a', 49)))
            .Should().Throw<ArgumentException>().WithMessage("*Schema*");

        // The planning lock holds a connection through a pass, the listener one for good: a pool of fewer would wait
        // on itself until its timeout, every pass.
        FluentActions.Invoking(() => services.AddScheduling().UsePostgreSql("Host=x;Maximum Pool Size=2"))
            .Should().Throw<ArgumentException>().WithMessage("*Maximum Pool Size is 2*");
        FluentActions.Invoking(() => services.AddScheduling().UsePostgreSql("Host=x;Maximum Pool Size=2", o => o.Notifications = false))
            .Should().NotThrow();
        FluentActions.Invoking(() => services.AddScheduling().UsePostgreSql("Host=x;Maximum Pool Size=1", o => o.Notifications = false))
            .Should().Throw<ArgumentException>().WithMessage("*Maximum Pool Size is 1*");
        FluentActions.Invoking(() => services.AddScheduling().UsePostgreSql("Host=x;Pooling=false"))
            .Should().NotThrow("each call then opens a connection of its own");
    }

    [Test]
    public async Task UsePostgreSql_WithoutAConnectionString_TakesTheNpgsqlDataSourceFromTheServices()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        await using var dataSource = NpgsqlDataSource.Create(await PostgreSqlServer.ConnectionStringAsync());
        var services = new ServiceCollection().AddSingleton(dataSource);
        services.AddScheduling().UsePostgreSql(o => o.Schema = schema);
        await using (var provider = services.BuildServiceProvider())
        {
            var store = provider.GetRequiredService<ISchedulingStore>();
            store.Should().BeOfType<PostgreSqlSchedulingStore>();
            (await store.InsertAsync([Run(s_now)], default)).Single().Created.Should().BeTrue();
        }

        (await ScalarAsync($"SELECT count(*) FROM \"{schema}\".runs")).Should().Be(1L);
        await PostgreSqlTestStores.DropSchemaAsync(schema);

        var none = new ServiceCollection();
        none.AddScheduling().UsePostgreSql();
        await using var empty = none.BuildServiceProvider();
        FluentActions.Invoking(() => empty.GetRequiredService<ISchedulingStore>())
            .Should().Throw<InvalidOperationException>().WithMessage("*NpgsqlDataSource*");
    }

    [Test]
    public async Task AnInsertOnOneInstance_NotifiesTheOthers_NotItself()
    {
        string schema = PostgreSqlTestStores.NewSchema();
        var a = await StoreAsync(schema);
        var b = await StoreAsync(schema);
        await a.GetWatermarkAsync("probe", default); // migrated
        var toldA = new SemaphoreSlim(0);
        var toldB = new SemaphoreSlim(0);
        var dueToldA = new System.Collections.Concurrent.ConcurrentQueue<DateTimeOffset>();
        using var subscriptionA = a.Subscribe(due =>
        {
            dueToldA.Enqueue(due);
            toldA.Release();
        });
        using var subscriptionB = b.Subscribe(_ => toldB.Release());
        await Task.Delay(500); // both listening

        await b.InsertAsync([Run(s_now.AddMinutes(5)), Run(s_now.AddMinutes(1)), Run(s_now.AddMinutes(3))], default);
        (await toldA.WaitAsync(TimeSpan.FromSeconds(30))).Should().BeTrue("A hears B's insert");
        dueToldA.Should().Equal([s_now.AddMinutes(1)], "one notification per change, carrying the earliest due time");
        await a.InsertAsync([Run(s_now)], default);
        (await toldB.WaitAsync(TimeSpan.FromSeconds(30))).Should().BeTrue("B hears A's insert");
        toldA.CurrentCount.Should().Be(0, "A ignores its own notification");
    }
}
