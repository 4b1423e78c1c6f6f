using Durable.Scheduling.Engine.Admission;
using Durable.Scheduling.Engine.Claiming;
using Durable.Scheduling.Engine.Completion;
using Durable.Scheduling.Engine.Execution;
using Durable.Scheduling.Engine.Feed;
using Durable.Scheduling.Engine.Maintenance;
using Durable.Scheduling.Engine.Timing;
using Microsoft.Extensions.Logging;

namespace Durable.Scheduling.Engine;

/// <summary>The rooms of one started scheduler, wired by <see cref="SchedulerHost"/> and handed to the loop.</summary>
internal sealed record SchedulerParts(
    SchedulingOptions Options,
    TimeProvider Time,
    WakeSignal Signal,
    LoopWait Wait,
    RunChangeInbox Inbox,
    ConcurrencySlots Slots,
    TrackedRuns Tracked,
    ClockWatch Clock,
    AdmissionControl Admission,
    Claimer Claimer,
    ExecutionTracker Executions,
    CompletionWriter Writer,
    DueFeeder Feeder,
    OccurrencePlanner Planner,
    Schedules.ScheduleBook Book,
    LeaseRenewer Renewer,
    Purger Purger,
    OwnedRunRecovery Recovery,
    OrphanWatch Orphans,
    ILogger Logger);
