using System.Reflection;
using Durable.Scheduling.Engine;
using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Engine;

/// <summary>The start-up warm-up is best effort: nothing it is given may throw (it runs on a background thread, where an exception would end the process).</summary>
[TestFixture]
public sealed class CodeWarmUpTests
{
    [Test]
    public void TryPrepare_TakesMethodsThatCannotBeCompiledAhead_WithoutThrowing()
    {
        var methods = new MethodBase[]
        {
            typeof(Shapes).GetMethod(nameof(Shapes.Generic))!, // a generic method definition
            typeof(Shapes.Open<>).GetMethod(nameof(Shapes.Open<int>.OnOpenType))!, // a method of an open generic type
            typeof(Shapes.Base).GetMethod(nameof(Shapes.Base.Abstract))!, // no body
            typeof(IDisposable).GetMethod(nameof(IDisposable.Dispose))!, // an interface's
            typeof(Shapes).GetMethod(nameof(Shapes.Plain))!, // and one that can be
        };

        foreach (var method in methods)
        {
            FluentActions.Invoking(() => CodeWarmUp.TryPrepare(method)).Should().NotThrow(method.Name);
        }
    }

    [Test]
    public void RunTheHotPaths_LeavesNoTrace_InTheProcessesTelemetry()
    {
        // The warm-up passes a run through a throwaway store: nothing of it may reach the metrics or traces a user
        // reads (a run started or succeeded that never was). Measurements and activities are recorded on the thread
        // that makes them, so only this test's thread is watched (other tests may run meanwhile).
        int thread = Environment.CurrentManagedThreadId;
        var seen = new List<string>();
        using var meters = new System.Diagnostics.Metrics.MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Durable.Scheduling")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<long>((instrument, _, _, _) => Record(instrument.Name));
        meters.SetMeasurementEventCallback<double>((instrument, _, _, _) => Record(instrument.Name));
        meters.Start();
        using var activities = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Durable.Scheduling",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStarted = activity => Record(activity.OperationName),
        };
        System.Diagnostics.ActivitySource.AddActivityListener(activities);

        FluentActions.Invoking(CodeWarmUp.RunTheHotPaths).Should().NotThrow();

        seen.Should().BeEmpty();

        void Record(string name)
        {
            if (Environment.CurrentManagedThreadId == thread)
            {
                lock (seen)
                {
                    seen.Add(name);
                }
            }
        }
    }

    private static class Shapes
    {
        public static T Generic<T>(T value) => value;

        public static int Plain(int value) => value + 1;

        public sealed class Open<T>
        {
            public T? OnOpenType() => default;
        }

        public abstract class Base
        {
            public abstract void Abstract();
        }
    }
}
