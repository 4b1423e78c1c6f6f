using Durable.Scheduling.Storage;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Testing;

/// <summary>
/// The storage contract every <see cref="ISchedulingStore"/> must meet, as NUnit tests. A store's test fixture derives
/// from this class (mark it <c>[TestFixture]</c>) and creates a fresh, empty store per test; every test runs unchanged
/// against every store. The only optional part is <see cref="MakeUnavailableAsync"/>: a store with a backing resource
/// (a file, a server) should implement it, so that the failure contract is checked too.
/// </summary>
/// <example>
/// <code>
/// [TestFixture]
/// public sealed class MyStoreTests : SchedulingStoreConformanceTests
/// {
///     protected override Task&lt;ISchedulingStore&gt; CreateStoreAsync() =&gt; Task.FromResult&lt;ISchedulingStore&gt;(new MyStore(...));
/// }
/// </code>
/// </example>
public abstract partial class SchedulingStoreConformanceTests
{
    /// <summary>The instant the tests treat as now (UTC); stores never read a clock.</summary>
    protected static readonly DateTimeOffset Now = new(2026, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_lease = TimeSpan.FromMinutes(1);

    private ISchedulingStore _store = null!;

    /// <summary>Creates a fresh, empty store.</summary>
    /// <returns>The store.</returns>
    protected abstract Task<ISchedulingStore> CreateStoreAsync();

    /// <summary>Releases what <see cref="CreateStoreAsync"/> created (files, connections).</summary>
    /// <param name="store">The store.</param>
    /// <returns>A task that completes when released.</returns>
    protected virtual Task DisposeStoreAsync(ISchedulingStore store) => Task.CompletedTask;

    /// <summary>
    /// Makes the store's backing resource unavailable (a database locked by someone else past the store's timeout,
    /// a server stopped) until the returned object is disposed; null (the default) when the store has no such resource,
    /// in which case the failure-contract test is reported as ignored. While unavailable, a write must fail, and every
    /// call must either succeed or throw <see cref="IOException"/> or <see cref="TimeoutException"/>.
    /// </summary>
    /// <param name="store">The store (created by <see cref="CreateStoreAsync"/>, already used once).</param>
    /// <returns>What restores the resource when disposed, or null.</returns>
    protected virtual Task<IAsyncDisposable?> MakeUnavailableAsync(ISchedulingStore store) => Task.FromResult<IAsyncDisposable?>(null);

    /// <summary>Creates the store for a test.</summary>
    /// <returns>A task that completes when the store exists.</returns>
    [SetUp]
    public async Task SetUpStore() => _store = await CreateStoreAsync();

    /// <summary>Releases the test's store.</summary>
    /// <returns>A task that completes when released.</returns>
    [TearDown]
    public async Task TearDownStore() => await DisposeStoreAsync(_store);

    /// <summary>A pending one-time run.</summary>
    /// <param name="at">Its time.</param>
    /// <param name="workflow">Its workflow.</param>
    /// <param name="key">The caller's idempotency key, or null.</param>
    /// <param name="input">Its input JSON, or null.</param>
    /// <param name="metadata">Its metadata, or null.</param>
    /// <returns>The run.</returns>
    protected static ScheduledRun OneTime(DateTimeOffset at, string workflow = "wf", string? key = null, string? input = null, IReadOnlyDictionary<string, string>? metadata = null)
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
            CreatedAt = Now,
        };
    }

    /// <summary>A pending occurrence of a recurring schedule.</summary>
    /// <param name="at">Its instant.</param>
    /// <param name="workflow">Its workflow.</param>
    /// <returns>The run.</returns>
    protected static ScheduledRun Occurrence(DateTimeOffset at, string workflow = "cron") => new()
    {
        Id = Guid.NewGuid(),
        WorkflowName = workflow,
        Kind = RunKind.Occurrence,
        IdempotencyKey = RunKeys.Occurrence(workflow, at),
        ScheduledTime = at,
        DueTime = at,
        Status = RunStatus.Pending,
        CreatedAt = Now,
    };
}
