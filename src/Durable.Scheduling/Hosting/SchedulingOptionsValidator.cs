using Microsoft.Extensions.Options;

namespace Durable.Scheduling;

/// <summary>Checks every option against its documented range.</summary>
internal sealed class SchedulingOptionsValidator : IValidateOptions<SchedulingOptions>
{
    public ValidateOptionsResult Validate(string? name, SchedulingOptions options)
    {
        var failures = new List<string>();
        Check(options.MaxConcurrency is >= 1 and <= 100_000, $"MaxConcurrency must be between 1 and 100,000; got {options.MaxConcurrency}.");
        Check(options.LookAhead >= TimeSpan.FromSeconds(1) && options.LookAhead <= TimeSpan.FromDays(1), $"LookAhead must be between 1 second and 1 day; got {options.LookAhead}.");
        Check(options.PollInterval >= TimeSpan.FromMilliseconds(10) && options.PollInterval <= TimeSpan.FromMinutes(10), $"PollInterval must be between 10 ms and 10 minutes; got {options.PollInterval}.");
        Check(options.LeaseDuration >= TimeSpan.FromSeconds(1) && options.LeaseDuration <= TimeSpan.FromDays(1), $"LeaseDuration must be between 1 second and 1 day; got {options.LeaseDuration}.");
        Check(options.CatchUpWindow >= TimeSpan.Zero && options.CatchUpWindow <= TimeSpan.FromDays(366), $"CatchUpWindow must be between 0 and 366 days; got {options.CatchUpWindow}.");
        Check(options.MaxCatchUpRuns is >= 1 and <= 100_000, $"MaxCatchUpRuns must be between 1 and 100,000; got {options.MaxCatchUpRuns}.");
        Check(options.DefaultMaxAttempts is >= 1 and <= 1000, $"DefaultMaxAttempts must be between 1 and 1,000; got {options.DefaultMaxAttempts}.");
        Check(options.DefaultRetryDelay >= TimeSpan.Zero, $"DefaultRetryDelay must not be negative; got {options.DefaultRetryDelay}.");
        Check(options.DefaultTimeout is null || options.DefaultTimeout > TimeSpan.Zero, $"DefaultTimeout must be positive when set; got {options.DefaultTimeout}.");
        Check(options.RunRetention is null || options.RunRetention >= TimeSpan.Zero, $"RunRetention must not be negative; got {options.RunRetention}.");
        Check(options.BatchSize is >= 1 and <= 100_000, $"BatchSize must be between 1 and 100,000; got {options.BatchSize}.");
        Check(options.JsonSerializerOptions is not null, "JsonSerializerOptions must not be null.");
        Check(options.InstanceId is null || options.InstanceId.Length is >= 1 and <= 200, $"InstanceId must be 1 to 200 characters when set; got '{options.InstanceId}'.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);

        void Check(bool ok, string failure)
        {
            if (!ok)
            {
                failures.Add("SchedulingOptions." + failure);
            }
        }
    }
}
