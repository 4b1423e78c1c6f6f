using Durable.Scheduling.Engine;
using System.Reflection;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

using Durable.Scheduling.Storage;

namespace Durable.Scheduling;

/// <summary>The <see cref="IScheduler"/> behind dependency injection: validates, stores, and tells the engine.</summary>
internal sealed class Scheduler : IScheduler
{
    private readonly ISchedulingStore _store;
    private readonly WorkflowRegistry _registry;
    private readonly IRunChanges _changes;
    private readonly SchedulingOptions _options;
    private readonly TimeProvider _time;

    public Scheduler(ISchedulingStore store, WorkflowRegistry registry, IRunChanges changes, IOptions<SchedulingOptions> options, IServiceProvider services)
    {
        _store = store;
        _registry = registry;
        _changes = changes;
        _options = options.Value;
        _time = services.GetService<TimeProvider>() ?? TimeProvider.System;
        // The engine's category: what a resume leaves unrun is logged as the planner logs what its catch-up leaves.
        var logger = (ILogger?)services.GetService<ILogger<SchedulerHost>>() ?? NullLogger.Instance;
        Schedules = new Schedules.ScheduleClient(store, registry, changes, _options, _time, logger);
    }

    /// <inheritdoc />
    public ISchedules Schedules { get; }

    public ValueTask<ScheduledRun> ScheduleAsync(string workflow, DateTimeOffset runAt, object? input = null, IReadOnlyDictionary<string, string>? metadata = null, string? idempotencyKey = null, CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var insert = _store.InsertOneAsync(NewRun(workflow, runAt, input, metadata, idempotencyKey, now), cancellationToken);
        if (insert.IsCompletedSuccessfully)
        {
            // The in-memory store answers synchronously: no state machine and no task on the per-run path.
            return new ValueTask<ScheduledRun>(Created(insert.Result, now));
        }

        return new ValueTask<ScheduledRun>(Awaited(insert, now));

        async Task<ScheduledRun> Awaited(ValueTask<InsertResult> pending, DateTimeOffset now) => Created(await pending.ConfigureAwait(false), now);
    }

    public async ValueTask<ScheduleResult> EnsureScheduledAsync(RunRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var now = _time.GetUtcNow();
        var result = await _store.InsertOneAsync(NewRun(request.Workflow, request.RunAt, request.Input, request.Metadata, request.IdempotencyKey, now), cancellationToken).ConfigureAwait(false);
        return new ScheduleResult(Created(result, now), result.Created);
    }

    private ScheduledRun Created(InsertResult result, DateTimeOffset now)
    {
        if (result.Created)
        {
            _changes.Created(result.Run, now);
        }

        return result.Run;
    }

    // Batches in the store at once: a store that commits queued writes together (SQLite's one writer) then puts several
    // in one transaction, and one that takes calls in parallel (PostgreSQL) overlaps them.
    private const int BatchesInFlight = 8;

    public async ValueTask<IReadOnlyList<ScheduledRun>> ScheduleManyAsync(IEnumerable<RunRequest> runs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runs);
        var now = _time.GetUtcNow();
        var all = runs.Select(r => r is null
            ? throw new ArgumentException("A run request is null.", nameof(runs))
            : NewRun(r.Workflow, r.RunAt, r.Input, r.Metadata, r.IdempotencyKey, now)).ToList();
        var stored = new List<ScheduledRun>(all.Count);
        var inFlight = new Queue<Task<IReadOnlyList<InsertResult>>>(BatchesInFlight);
        try
        {
            for (int offset = 0; offset < all.Count; offset += _options.BatchSize)
            {
                var batch = all.GetRange(offset, Math.Min(_options.BatchSize, all.Count - offset));
                inFlight.Enqueue(_store.InsertAsync(batch, cancellationToken).AsTask());
                if (inFlight.Count == BatchesInFlight)
                {
                    Take(await inFlight.Dequeue().ConfigureAwait(false));
                }
            }

            while (inFlight.Count > 0)
            {
                Take(await inFlight.Dequeue().ConfigureAwait(false));
            }
        }
        catch
        {
            // The batches sent after the one that failed finish first (none is left running past the call), and the engine
            // hears of those stored, as of any run created.
            while (inFlight.Count > 0)
            {
                try
                {
                    Take(await inFlight.Dequeue().ConfigureAwait(false));
                }
                catch (Exception)
                {
                    // the first failure is the one reported
                }
            }

            throw;
        }

        return stored;

        void Take(IReadOnlyList<InsertResult> results)
        {
            foreach (var result in results)
            {
                stored.Add(Created(result, now));
            }
        }
    }

    public async ValueTask<ScheduledRun?> GetAsync(Guid id, CancellationToken cancellationToken = default) =>
        await _store.GetAsync(id, cancellationToken).ConfigureAwait(false);

    public async ValueTask<RunPage> ListAsync(RunQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > 1000)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "RunQuery.PageSize must be between 1 and 1,000.");
        }

        return await _store.ListAsync(Resolve(query), cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<bool> DeleteAsync(Guid id, CancellationToken cancellationToken = default)
    {
        if (await _store.GetAsync(id, cancellationToken).ConfigureAwait(false) is { Kind: RunKind.Occurrence, Status: RunStatus.Pending })
        {
            // An occurrence deleted by id is recorded as skipped (its key stays, so it is never created again).
            if ((await SkipOccurrencesAsync([id], cancellationToken).ConfigureAwait(false)).Count == 1)
            {
                return true;
            }
        }

        var refused = await _store.DeleteAsync([id], cancellationToken).ConfigureAwait(false);
        if (refused.Count > 0)
        {
            if (refused[0].Status is null)
            {
                return false;
            }

            throw new ScheduledRunStateException(refused, "delete");
        }

        _changes.Removed(id);
        return true;
    }

    public async ValueTask<int> BulkDeleteAsync(IEnumerable<Guid> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids.Distinct().ToList();
        var occurrences = new List<Guid>();
        foreach (var id in list)
        {
            if (await _store.GetAsync(id, cancellationToken).ConfigureAwait(false) is { Kind: RunKind.Occurrence, Status: RunStatus.Pending })
            {
                occurrences.Add(id);
            }
        }

        var skipped = occurrences.Count == 0 ? [] : (await SkipOccurrencesAsync(occurrences, cancellationToken).ConfigureAwait(false)).ToHashSet();
        var rest = list.Where(id => !skipped.Contains(id)).ToList();
        var refused = await _store.DeleteAsync(rest, cancellationToken).ConfigureAwait(false);
        var notDeleted = refused.Select(r => r.Id).ToHashSet();
        foreach (var id in rest.Where(id => !notDeleted.Contains(id)))
        {
            _changes.Removed(id);
        }

        return skipped.Count + rest.Count - refused.Count;
    }

    public async ValueTask<int> BulkDeleteAsync(RunQuery filter, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        filter = Resolve(filter);
        var kinds = filter.Kinds is { Count: > 0 } given ? given : [RunKind.OneTime];
        int count = 0;
        if (kinds.Contains(RunKind.OneTime))
        {
            count += await DeleteMatchingAsync(filter with { Kinds = [RunKind.OneTime], ContinuationToken = null }, cancellationToken).ConfigureAwait(false);
        }

        if (kinds.Contains(RunKind.Occurrence))
        {
            // Explicitly asked for: ended ones leave the history first (so that those skipped below stay recorded),
            // then pending ones are recorded as skipped by the user.
            RunStatus[] ended = [RunStatus.Succeeded, RunStatus.Failed, RunStatus.Cancelled, RunStatus.Skipped];
            var endedWanted = filter.Statuses is { Count: > 0 } statuses ? ended.Where(statuses.Contains).ToArray() : ended;
            if (endedWanted.Length > 0)
            {
                count += await DeleteMatchingAsync(filter with { Kinds = [RunKind.Occurrence], Statuses = endedWanted, ContinuationToken = null }, cancellationToken).ConfigureAwait(false);
            }

            if (filter.Statuses is not { Count: > 0 } wanted || wanted.Contains(RunStatus.Pending))
            {
                var pending = new List<Guid>();
                var page = filter with { Kinds = [RunKind.Occurrence], Statuses = [RunStatus.Pending], PageSize = 1000, ContinuationToken = null };
                do
                {
                    var result = await _store.ListAsync(page, cancellationToken).ConfigureAwait(false);
                    pending.AddRange(result.Items.Select(r => r.Id));
                    page = page with { ContinuationToken = result.ContinuationToken };
                }
                while (page.ContinuationToken is not null);
                count += (await SkipOccurrencesAsync(pending, cancellationToken).ConfigureAwait(false)).Count;
            }
        }

        return count;
    }

    /// <summary>Turns <see cref="RunQuery.OrphanedOnly"/> into the exclusion of every workflow defined here.</summary>
    private RunQuery Resolve(RunQuery query) =>
        query.OrphanedOnly
            ? query with { OrphanedOnly = false, ExcludedWorkflowNames = [.. _registry.All.Select(w => w.Name), .. query.ExcludedWorkflowNames ?? []] }
            : query;

    private async ValueTask<int> DeleteMatchingAsync(RunQuery filter, CancellationToken cancellationToken)
    {
        var deleted = await _store.DeleteAsync(filter, cancellationToken).ConfigureAwait(false);
        foreach (var id in deleted)
        {
            _changes.Removed(id);
        }

        return deleted.Count;
    }

    private async ValueTask<List<Guid>> SkipOccurrencesAsync(List<Guid> ids, CancellationToken cancellationToken)
    {
        var skipped = new List<Guid>(ids.Count);
        var reason = new RunError("Durable.Scheduling.DeletedByUser", "Deleted by the user before it ran: recorded as skipped, so the occurrence is never created again.");
        for (int offset = 0; offset < ids.Count; offset += _options.BatchSize)
        {
            var batch = ids.Skip(offset).Take(_options.BatchSize).ToList();
            skipped.AddRange(await _store.SkipPendingAsync(batch, _time.GetUtcNow(), reason, cancellationToken).ConfigureAwait(false));
        }

        foreach (var id in skipped)
        {
            _changes.Removed(id);
        }

        return skipped;
    }

    public async ValueTask<ScheduledRun> RescheduleAsync(Guid id, DateTimeOffset runAt, CancellationToken cancellationToken = default)
    {
        CheckRunTime(runAt, nameof(runAt));
        return (await BulkRescheduleAsync([new RunTimeChange(id, runAt)], cancellationToken).ConfigureAwait(false))[0];
    }

    public async ValueTask<IReadOnlyList<ScheduledRun>> BulkRescheduleAsync(IEnumerable<RunTimeChange> changes, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(changes);
        var list = changes.Select(c => c with { RunAt = c.RunAt.ToUniversalTime() }).ToList();
        foreach (var change in list)
        {
            CheckRunTime(change.RunAt, nameof(changes));
        }

        var duplicate = list.GroupBy(c => c.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Run {duplicate.Key} appears more than once.", nameof(changes));
        }

        IReadOnlyList<ScheduledRun> rescheduled;
        try
        {
            rescheduled = await _store.RescheduleAsync(list, cancellationToken).ConfigureAwait(false);
        }
        catch (ScheduledRunStateException e) when (e.Refused.Count > 0 && e.Refused.All(r => r.Status is null))
        {
            throw new ScheduledRunNotFoundException([.. e.Refused.Select(r => r.Id)], "reschedule", e);
        }

        foreach (var run in rescheduled)
        {
            _changes.Added(run);
        }

        return rescheduled;
    }


    /// <summary>Refuses a run time outside <see cref="SchedulingLimits.EarliestRunTime"/> to <see cref="SchedulingLimits.LatestRunTime"/>.</summary>
    internal static void CheckRunTime(DateTimeOffset runAt, string parameter)
    {
        if (runAt < SchedulingLimits.EarliestRunTime || runAt > SchedulingLimits.LatestRunTime)
        {
            throw new ArgumentOutOfRangeException(parameter, runAt, $"A run time must be between {SchedulingLimits.EarliestRunTime:O} and {SchedulingLimits.LatestRunTime:O}.");
        }
    }

    private string Serialize(object input)
    {
        string json;
        try
        {
            json = JsonSerializer.Serialize(input, input.GetType(), _options.JsonSerializerOptions);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new NotSupportedException($"The input of type {input.GetType().FullName} cannot be serialized to JSON: {e.Message}", e);
        }

        if (json.Length > _options.MaxInputBytes)
        {
            throw Invalid($"The input is {json.Length:N0} bytes of JSON; the limit is {_options.MaxInputBytes:N0} (SchedulingOptions.MaxInputBytes).", "input");
        }

        return json;
    }

    /// <summary>
    /// The input must be what the handler takes: its type, or JSON (a <see cref="JsonElement"/>, as a schedule's input
    /// may be) that reads as it, or nothing for a handler that takes none.
    /// </summary>
    private static void CheckInput(WorkflowDescriptor workflow, object? input, JsonSerializerOptions json)
    {
        var expected = workflow.Invoker.InputType;
        if (input is null)
        {
            if (expected is not null && workflow.Invoker.InputRequired)
            {
                throw Invalid($"Workflow '{workflow.Name}' requires an input of type {expected.FullName}; none was given.", "input");
            }

            return;
        }

        if (expected is null)
        {
            throw Invalid($"Workflow '{workflow.Name}' takes no input; an input of type {input.GetType().FullName} was given.", "input");
        }

        if (input is JsonElement element)
        {
            try
            {
                _ = JsonSerializer.Deserialize(element, expected, json); // read as the handler will read it
            }
            catch (Exception e) when (e is JsonException or NotSupportedException)
            {
                throw new ArgumentException($"Workflow '{workflow.Name}' takes an input of type {expected.FullName}; the JSON given does not read as one: {e.Message}", nameof(input), e);
            }

            return;
        }

        if (!expected.IsInstanceOfType(input))
        {
            throw Invalid($"Workflow '{workflow.Name}' takes an input of type {expected.FullName}; an input of type {input.GetType().FullName} was given.", "input");
        }
    }

    /// <summary>Refuses a key longer than every store can index.</summary>
    internal static void CheckKeyLength(string? key, string parameter)
    {
        if (key is { Length: > SchedulingLimits.MaxIdempotencyKeyLength })
        {
            throw new ArgumentOutOfRangeException(parameter, key.Length, $"An idempotency key must be at most {SchedulingLimits.MaxIdempotencyKeyLength} characters (it is stored and indexed with the run); this one has {key.Length}.");
        }
    }

    /// <summary>An argument error naming the public parameter (of ScheduleAsync) that was wrong.</summary>
    private static ArgumentException Invalid(string message, string parameter) => new(message, parameter);

    private ScheduledRun NewRun(string workflow, DateTimeOffset runAt, object? input, IReadOnlyDictionary<string, string>? metadata, string? idempotencyKey, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(workflow);
        CheckRunTime(runAt, "runAt");
        var descriptor = _registry.Find(workflow);
        if (descriptor is null)
        {
            var known = string.Join(", ", _registry.All.Select(w => w.Name).Order(StringComparer.Ordinal).Take(20));
            throw Invalid($"Unknown workflow '{workflow}'. Known workflows: {(known.Length == 0 ? "none" : known)}.", "workflow");
        }

        CheckInput(descriptor, input, _options.JsonSerializerOptions);

        if (idempotencyKey is { Length: 0 })
        {
            throw Invalid("The idempotency key must not be empty; pass null for none.", "idempotencyKey");
        }

        CheckKeyLength(idempotencyKey, "idempotencyKey");

        Dictionary<string, string>? copied = null;
        if (metadata is { Count: > 0 })
        {
            copied = new Dictionary<string, string>(metadata.Count, StringComparer.Ordinal);
            foreach (var (key, value) in metadata)
            {
                if (string.IsNullOrEmpty(key) || value is null)
                {
                    throw Invalid($"Metadata key '{key}' is empty or its value is null.", "metadata");
                }

                copied[key] = value;
            }
        }

        string? json = input is null ? null : Serialize(input);
        var id = RunIds.Next(now);
        return new ScheduledRun
        {
            Id = id,
            WorkflowName = workflow,
            Kind = RunKind.OneTime,
            IdempotencyKey = idempotencyKey is null ? null! : RunKeys.OneTime(workflow, idempotencyKey, id),
            ScheduledTime = runAt,
            DueTime = runAt,
            Status = RunStatus.Pending,
            Input = json,
            Metadata = copied ?? ScheduledRun.EmptyMetadata,
            CreatedAt = now,
            TraceParent = System.Diagnostics.Activity.Current is { IdFormat: System.Diagnostics.ActivityIdFormat.W3C } caller ? caller.Id : null,
        };
    }
}
