using Durable.Scheduling.Engine.Timing;

namespace Durable.Scheduling.Engine.Admission;

/// <summary>
/// A run admitted for the next claim, with the workflow looked up at admission and its node if it has one.
/// <paramref name="Overlap"/> is the policy it was admitted under, when not <see cref="OverlapPolicy.AllowAll"/>: it is
/// then claimed on its own, only while no run of its schedule runs on any instance.
/// </summary>
internal readonly record struct Claim(Guid Id, long DueTicks, RunKind Kind, string Workflow, WorkflowDescriptor? Descriptor, WheelNode? Node, string? Schedule = null, OverlapPolicy? Overlap = null);

/// <summary>
/// A due run waiting for a concurrency slot: its node, or none for a one-time run filed straight as due (a struct in
/// the queue, so a backlog of thousands of such runs is no objects for the collector to keep).
/// </summary>
internal readonly record struct Waiting(Guid Id, long DueTicks, string Workflow, WheelNode? Node);
