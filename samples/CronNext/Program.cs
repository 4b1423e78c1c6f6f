using System.Globalization;
using Durable.Scheduling;

// Prints the next fire times of a cron expression in a time zone:
//   dotnet run --project samples/CronNext -- "0 9 * * MON-FRI" America/New_York 5
string expression = args.Length > 0 ? args[0] : "0 30 1 * * *";
string zoneId = args.Length > 1 ? args[1] : "America/New_York";
int count = args.Length > 2 && int.TryParse(args[2], CultureInfo.InvariantCulture, out int n) ? n : 5;

try
{
    var zone = TimeZoneInfo.FindSystemTimeZoneById(zoneId);
    string normal = CronSchedule.Normalize(expression);
    Console.WriteLine($"{expression} in {zone.Id} (normal form: {normal}):");
    foreach (var occurrence in CronSchedule.GetNextOccurrences(expression, zone, TimeProvider.System.GetUtcNow(), count))
    {
        Console.WriteLine($"  {occurrence:yyyy-MM-dd HH:mm:ss zzz}  =  {occurrence.UtcDateTime:yyyy-MM-dd HH:mm:ss}Z");
    }

    return 0;
}
catch (CronFormatException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
catch (TimeZoneNotFoundException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
