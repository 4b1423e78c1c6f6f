using FluentAssertions;
using NUnit.Framework;

namespace Durable.Scheduling.Tests.Packaging;

/// <summary>
/// The packages a user gets: <c>dotnet pack</c> makes them, and the QuickStart sample, built against them from a local
/// folder feed (not against the projects), restores, runs its schedule and its one-time run, and stops by itself.
/// </summary>
[TestFixture]
[Category("Slow")]
[NonParallelizable]
public sealed class PackagesTests
{
    private static readonly TimeSpan s_step = TimeSpan.FromMinutes(4);

    [Test]
    public async Task QuickStart_BuiltFromThePackedPackages_RestoresAndRuns()
    {
        // A version of its own, so that no package cached by an earlier run is taken instead of the one packed now.
        string version = "0.0.0-local." + DateTime.UtcNow.ToString("yyyyMMddHHmmss", System.Globalization.CultureInfo.InvariantCulture) + "." + Environment.ProcessId;
        string work = Path.Combine(Path.GetTempPath(), "durable-scheduling-pack-" + Guid.NewGuid().ToString("N"));
        string feed = Path.Combine(work, "feed");
        string app = Path.Combine(work, "app");
        Directory.CreateDirectory(app);
        try
        {
            // The shipped projects only (packing the solution would rebuild this very test assembly while it runs).
            foreach (string package in new[] { "Durable.Scheduling", "Durable.Scheduling.Sqlite", "Durable.Scheduling.PostgreSql", "Durable.Scheduling.Testing" })
            {
                var pack = await RepositoryRoot.DotnetAsync(RepositoryRoot.Path, s_step, "pack", Path.Combine("src", package, package + ".csproj"), "-c", "Release", "-o", feed, "-p:PackageVersion=" + version);
                pack.ExitCode.Should().Be(0, pack.Output);
            }

            Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Should().BeEquivalentTo(
                $"Durable.Scheduling.{version}.nupkg", $"Durable.Scheduling.Sqlite.{version}.nupkg", $"Durable.Scheduling.PostgreSql.{version}.nupkg", $"Durable.Scheduling.Testing.{version}.nupkg");
            Directory.GetFiles(feed, "*.snupkg").Should().HaveCount(4, "symbols ship beside each package");

            foreach (string source in Directory.GetFiles(Path.Combine(RepositoryRoot.Path, "samples", "QuickStart"), "*.cs"))
            {
                File.Copy(source, Path.Combine(app, Path.GetFileName(source)));
            }

            // Outside the repository: none of its build props apply; the machine's package sources plus the local feed.
            await File.WriteAllTextAsync(Path.Combine(app, "QuickStart.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Durable.Scheduling.Sqlite" Version="{version}" />
                    <PackageReference Include="Microsoft.Extensions.Hosting" Version="10.0.14" />
                  </ItemGroup>
                </Project>
                """);
            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);

            var run = await RepositoryRoot.DotnetAsync(app, s_step, "run", "-c", "Release", "--", "--duration", "6", "--db", Path.Combine(work, "quickstart.db"));
            run.ExitCode.Should().Be(0, run.Output);
            run.Output.Should().Contain("Reports.Tick").And.Contain("reminder to customer 42").And.MatchRegex("One-time run .*: Succeeded", run.Output);
        }
        finally
        {
            // The folder, and this run's packages in the global cache (their version is used once).
            string cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (string path in new[] { "durable.scheduling", "durable.scheduling.sqlite", "durable.scheduling.testing" }.Select(p => Path.Combine(cache, p, version)).Append(work))
            {
                try
                {
                    if (Directory.Exists(path))
                    {
                        Directory.Delete(path, recursive: true);
                    }
                }
                catch (IOException)
                {
                    // best effort
                }
            }
        }
    }
}
