using Microsoft.Extensions.Options;
using static Durable.Scheduling.SchedulingLimits;

namespace Durable.Scheduling;

/// <summary>Checks every option against its documented range (<see cref="SchedulingLimits"/>).</summary>
internal sealed class SchedulingOptionsValidator : IValidateOptions<SchedulingOptions>
{
    public ValidateOptionsResult Validate(string? name, SchedulingOptions options)
    {
        var failures = new List<string>();
        Check(options.MaxConcurrency is >= MinCount and <= MaxCount, $"MaxConcurrency must be between {MinCount} and {MaxCount}; got {options.MaxConcurrency}.");
        Check(options.LookAhead >= MinLookAheadOrLease && options.LookAhead <= MaxLookAheadOrLease, $"LookAhead must be between {MinLookAheadOrLease} and {MaxLookAheadOrLease}; got {options.LookAhead}.");
        Check(options.PollInterval >= MinPollInterval && options.PollInterval <= MaxPollInterval, $"PollInterval must be between {MinPollInterval} and {MaxPollInterval}; got {options.PollInterval}.");
        Check(options.LeaseDuration >= MinLookAheadOrLease && options.LeaseDuration <= MaxLookAheadOrLease, $"LeaseDuration must be between {MinLookAheadOrLease} and {MaxLookAheadOrLease}; got {options.LeaseDuration}.");
        Check(options.CatchUpWindow >= TimeSpan.Zero && options.CatchUpWindow <= MaxCatchUpWindow, $"CatchUpWindow must be between 0 and {MaxCatchUpWindow}; got {options.CatchUpWindow}.");
        Check(options.MaxCatchUpRuns is >= MinCount and <= MaxCount, $"MaxCatchUpRuns must be between {MinCount} and {MaxCount}; got {options.MaxCatchUpRuns}.");
        Check(options.DefaultMaxAttempts is >= 1 and <= MaxAttempts, $"DefaultMaxAttempts must be between 1 and {MaxAttempts}; got {options.DefaultMaxAttempts}.");
        Check(options.DefaultRetryDelay >= TimeSpan.Zero && options.DefaultRetryDelay <= MaxRetryDelay, $"DefaultRetryDelay must be between 0 and {MaxRetryDelay}; got {options.DefaultRetryDelay}.");
        Check(options.DefaultTimeout is null || (options.DefaultTimeout > TimeSpan.Zero && options.DefaultTimeout <= MaxTimeout), $"DefaultTimeout must be positive and at most {MaxTimeout} when set; got {options.DefaultTimeout}.");
        Check(options.TimeoutGrace >= TimeSpan.Zero && options.TimeoutGrace <= MaxTimeoutGrace, $"TimeoutGrace must be between 0 and {MaxTimeoutGrace}; got {options.TimeoutGrace}.");
        Check(options.RunRetention is null || options.RunRetention >= TimeSpan.Zero, $"RunRetention must not be negative; got {options.RunRetention}.");
        Check(options.BatchSize is >= MinCount and <= MaxCount, $"BatchSize must be between {MinCount} and {MaxCount}; got {options.BatchSize}.");
        Check(options.MaxInputBytes is >= 1 and <= MaxInputBytesLimit, $"MaxInputBytes must be between 1 and {MaxInputBytesLimit}; got {options.MaxInputBytes}.");
        Check(options.JsonSerializerOptions is not null, "JsonSerializerOptions must not be null.");
        Check(options.InstanceId is null || options.InstanceId.Length is >= 1 and <= MaxNameLength, $"InstanceId must be 1 to {MaxNameLength} characters when set; got '{options.InstanceId}'.");
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
