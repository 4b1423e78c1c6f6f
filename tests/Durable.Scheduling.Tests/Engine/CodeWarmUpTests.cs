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
