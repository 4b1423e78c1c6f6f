using System.Numerics;

namespace Durable.Scheduling;

/// <summary>
/// Allocation-free parser of the cron dialect (Cronos's, plus full month and day names). On success the only
/// allocation is the <see cref="CronExpression"/> itself; failures build their message on the error path only.
/// </summary>
internal ref struct CronParser
{
    private const ulong DaysOfWeekAll = 0b111_1111;
    private const int MaxDigits = 9;

    private static readonly string[] s_monthNames =
        ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER"];

    private static readonly string[] s_dayNames = ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"];

    private readonly ReadOnlySpan<char> _text;
    private readonly int? _seed;
    private Random? _random;
    private ulong _seconds;
    private ulong _minutes;
    private ulong _hours;
    private ulong _daysOfMonth;
    private ulong _months;
    private ulong _daysOfWeek;
    private int _lastMonthOffset;
    private int _nthDayOfWeek;
    private CronFlags _flags;

    private CronParser(ReadOnlySpan<char> text, int? seed)
    {
        _text = text;
        _seed = seed;
    }

    /// <summary>The error of a failed parse: the field (or null for the whole expression) and the message.</summary>
    public readonly record struct Error(string? Field, string Message)
    {
        public CronFormatException ToException() => new(Field, Message);
    }

    public static CronExpression? Parse(string expression, CronFormat format, int? seed, out Error error)
    {
        if (format is not (CronFormat.Standard or CronFormat.IncludeSeconds or CronFormat.Auto))
        {
            error = new Error(null, $"Unknown cron format {(int)format}.");
            return null;
        }

        var parser = new CronParser(expression.AsSpan().Trim(" \t"), seed);
        return parser.ParseExpression(format, expression, out error);
    }

    private CronExpression? ParseExpression(CronFormat format, string original, out Error error)
    {
        if (_text.IsEmpty)
        {
            error = new Error(null, "The expression is empty.");
            return null;
        }

        if (_text[0] == '@')
        {
            return ParseMacro(original, out error) ? Build() : null;
        }

        int count = CountFields(_text);
        int expected = format switch
        {
            CronFormat.Standard => 5,
            CronFormat.IncludeSeconds => 6,
            _ => count is 5 or 6 ? count : -1,
        };
        if (count != expected)
        {
            error = FieldCountError(format, count, original);
            return null;
        }

        int first = expected == 6 ? 0 : 1;
        if (first == 1)
        {
            _seconds = 1; // second 0
        }

        var rest = _text;
        for (int f = first; f < 6; f++)
        {
            rest = rest.TrimStart(" \t");
            int end = rest.IndexOfAny(' ', '\t');
            var token = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[end..];
            if (!ParseField((CronField)f, token, out error))
            {
                return null;
            }
        }

        error = default;
        return Build();
    }

    private CronExpression Build()
    {
        if (_daysOfMonth == AllDaysOfMonth && (_flags & (CronFlags.DayOfMonthLast | CronFlags.NearestWeekday)) == 0)
        {
            _flags |= CronFlags.DayOfMonthStar;
        }

        if (_daysOfWeek == DaysOfWeekAll && (_flags & (CronFlags.DayOfWeekLast | CronFlags.NthDayOfWeek)) == 0)
        {
            _flags |= CronFlags.DayOfWeekStar;
        }

        return new CronExpression(_seconds, _minutes, _hours, _daysOfMonth, _months, _daysOfWeek, _lastMonthOffset, _nthDayOfWeek, _flags);
    }

    private const ulong AllDaysOfMonth = 0xFFFF_FFFEUL;

    private static int CountFields(ReadOnlySpan<char> text)
    {
        int count = 0;
        bool inToken = false;
        foreach (char c in text)
        {
            bool space = c is ' ' or '\t';
            if (!space && !inToken)
            {
                count++;
            }

            inToken = !space;
        }

        return count;
    }

    private static Error FieldCountError(CronFormat format, int count, string original)
    {
        string list = format == CronFormat.Standard
            ? "5 fields (Minutes, Hours, Days of month, Months, Days of week)"
            : format == CronFormat.IncludeSeconds
                ? "6 fields (Seconds, Minutes, Hours, Days of month, Months, Days of week)"
                : "5 fields (Minutes, Hours, Days of month, Months, Days of week) or 6 (Seconds first)";
        int expected = format == CronFormat.Standard ? 5 : 6;
        if (count < expected)
        {
            var missing = (CronField)(count + (expected == 6 ? 0 : 1));
            return new Error(CronFieldInfo.Name(missing), $"the field is missing: '{original}' has {count} fields, expected {list}.");
        }

        return new Error(null, $"'{original}' has {count} fields, expected {list}.");
    }

    private bool ParseMacro(string original, out Error error)
    {
        var name = _text[1..];
        error = default;
        int level = // how many leading fields (seconds, minutes, ...) are fixed (hashed when seeded)
            name.Equals("every_second", StringComparison.OrdinalIgnoreCase) ? 0 :
            name.Equals("every_minute", StringComparison.OrdinalIgnoreCase) ? 1 :
            name.Equals("hourly", StringComparison.OrdinalIgnoreCase) ? 2 :
            name.Equals("daily", StringComparison.OrdinalIgnoreCase) || name.Equals("midnight", StringComparison.OrdinalIgnoreCase) ? 3 :
            name.Equals("weekly", StringComparison.OrdinalIgnoreCase) ? 4 :
            name.Equals("monthly", StringComparison.OrdinalIgnoreCase) ? 5 :
            name.Equals("yearly", StringComparison.OrdinalIgnoreCase) || name.Equals("annually", StringComparison.OrdinalIgnoreCase) ? 6 : -1;
        if (level < 0)
        {
            error = new Error(null, $"'{original.Trim()}' is not a known macro; expected one of @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every_minute, @every_second.");
            return false;
        }

        // Hash draws go in field order (seconds, minutes, hours, day of month, month, day of week).
        _seconds = level >= 1 ? HashOrFirst(CronField.Seconds) : AllBits(0, 59);
        _minutes = level >= 2 ? HashOrFirst(CronField.Minutes) : AllBits(0, 59);
        _hours = level >= 3 ? HashOrFirst(CronField.Hours) : AllBits(0, 23);
        _daysOfMonth = level >= 5 ? HashOrFirst(CronField.DaysOfMonth) : AllDaysOfMonth;
        _months = level >= 6 ? HashOrFirst(CronField.Months) : AllBits(1, 12);
        _daysOfWeek = level == 4 ? HashOrFirst(CronField.DaysOfWeek) : DaysOfWeekAll;
        if (level < 3)
        {
            _flags |= CronFlags.Interval;
        }

        return true;
    }

    /// <summary>The field's first value, or a value drawn from the seed when one was given (Jenkins-style H).</summary>
    private ulong HashOrFirst(CronField field)
    {
        int min = CronFieldInfo.Min(field);
        return 1UL << (_seed is null ? min : min + DrawHash(HashSpan(field)));
    }

    private static int HashSpan(CronField field) => field switch
    {
        CronField.DaysOfMonth => 28, // days 1-28 exist in every month
        CronField.DaysOfWeek => 7,
        _ => CronFieldInfo.Max(field) - CronFieldInfo.Min(field) + 1,
    };

    private int DrawHash(int span)
    {
        _random ??= new Random(_seed!.Value);
        return _random.Next(span);
    }

    private static ulong AllBits(int from, int to) => (ulong.MaxValue >> (63 - to)) & (ulong.MaxValue << from);

    private bool ParseField(CronField field, ReadOnlySpan<char> token, out Error error)
    {
        error = default;
        if (field == CronField.DaysOfMonth && (token[0] is 'L' or 'l'))
        {
            return ParseLastDayOfMonth(token, out error);
        }

        if (field == CronField.DaysOfMonth && token[^1] is 'W' or 'w')
        {
            return ParseNearestWeekday(token, out error);
        }

        if (field == CronField.DaysOfWeek && (token.IndexOf('#') >= 0 || (token.Length > 1 && token[^1] is 'L' or 'l')))
        {
            return ParseSpecialDayOfWeek(token, out error);
        }

        ulong mask = 0;
        bool intervalSyntax = false;
        var rest = token;
        while (true)
        {
            int comma = rest.IndexOf(',');
            var item = comma < 0 ? rest : rest[..comma];
            if (!ParseItem(field, item, token, ref mask, ref intervalSyntax, out error))
            {
                return false;
            }

            if (comma < 0)
            {
                break;
            }

            rest = rest[(comma + 1)..];
        }

        if (field == CronField.DaysOfWeek && (mask & (1UL << 7)) != 0)
        {
            mask = (mask & ~(1UL << 7)) | 1UL;
        }

        if (intervalSyntax && field <= CronField.Hours && BitOperations.PopCount(mask) > 1)
        {
            _flags |= CronFlags.Interval;
        }

        SetMask(field, mask);
        return true;
    }

    private void SetMask(CronField field, ulong mask)
    {
        switch (field)
        {
            case CronField.Seconds: _seconds = mask; break;
            case CronField.Minutes: _minutes = mask; break;
            case CronField.Hours: _hours = mask; break;
            case CronField.DaysOfMonth: _daysOfMonth = mask; break;
            case CronField.Months: _months = mask; break;
            default: _daysOfWeek = mask; break;
        }
    }

    private bool ParseItem(CronField field, ReadOnlySpan<char> item, ReadOnlySpan<char> token, ref ulong mask, ref bool intervalSyntax, out Error error)
    {
        error = default;
        int min = CronFieldInfo.Min(field);
        int max = CronFieldInfo.Max(field);
        if (item.IsEmpty)
        {
            error = Invalid(field, token, "an empty list item");
            return false;
        }

        int pos = 0;
        int start;
        int end;
        bool hashed = false;
        if (item[0] is '*' or '?')
        {
            start = min;
            end = field == CronField.DaysOfWeek ? 6 : max;
            pos = 1;
            intervalSyntax = true;
        }
        else if (item[0] is 'H' or 'h' && (item.Length == 1 || item[1] == '/'))
        {
            if (_seed is null)
            {
                error = Invalid(field, token, "'H' needs a hash seed; pass one to CronExpression.Parse");
                return false;
            }

            hashed = true;
            start = min;
            end = field == CronField.DaysOfWeek ? 6 : max;
            pos = 1;
        }
        else
        {
            if (!ReadValue(field, item, ref pos, token, out start, out error))
            {
                return false;
            }

            end = start;
            if (pos < item.Length && item[pos] == '-')
            {
                pos++;
                if (!ReadValue(field, item, ref pos, token, out end, out error))
                {
                    return false;
                }

                intervalSyntax = true;
            }
            else if (pos < item.Length && item[pos] == '/')
            {
                end = field == CronField.DaysOfWeek ? 6 : max;
            }
        }

        int step = 1;
        if (pos < item.Length && item[pos] == '/')
        {
            pos++;
            if (!ReadNumber(item, ref pos, out step))
            {
                error = Invalid(field, token, "a step must be a number");
                return false;
            }

            if (step < 1 || step > max)
            {
                error = Invalid(field, token, $"step {step} is out of range; a step must be between 1 and {max}");
                return false;
            }

            intervalSyntax = true;
        }

        if (pos != item.Length)
        {
            error = Invalid(field, token, $"unexpected '{item[pos]}'");
            return false;
        }

        if (hashed)
        {
            int span = step == 1 ? HashSpan(field) : step;
            int drawn = min + DrawHash(span);
            if (step == 1)
            {
                mask |= 1UL << drawn;
                return true;
            }

            start = drawn;
        }

        int cycleMax = CronFieldInfo.CycleMax(field);
        if (step == 1)
        {
            mask |= end >= start ? AllBits(start, end) : AllBits(start, cycleMax) | AllBits(min, end);
            return true;
        }

        int cycle = cycleMax - min + 1;
        int length = end >= start ? end - start : end - start + cycle;
        for (int k = 0; k <= length; k += step)
        {
            int v = start + k;
            if (v > cycleMax && end < start)
            {
                v -= cycle;
            }

            mask |= 1UL << v;
        }

        return true;
    }

    private static bool ReadNumber(ReadOnlySpan<char> s, ref int pos, out int value)
    {
        value = 0;
        int digits = 0;
        while (pos < s.Length && char.IsAsciiDigit(s[pos]))
        {
            if (digits < MaxDigits)
            {
                value = (value * 10) + (s[pos] - '0');
            }
            else
            {
                value = int.MaxValue;
            }

            digits++;
            pos++;
        }

        return digits > 0;
    }

    private static bool ReadValue(CronField field, ReadOnlySpan<char> item, ref int pos, ReadOnlySpan<char> token, out int value, out Error error)
    {
        error = default;
        int min = CronFieldInfo.Min(field);
        int max = CronFieldInfo.Max(field);
        if (pos < item.Length && char.IsAsciiLetter(item[pos]))
        {
            int begin = pos;
            while (pos < item.Length && char.IsAsciiLetter(item[pos]))
            {
                pos++;
            }

            var name = item[begin..pos];
            value = field switch
            {
                CronField.Months => LookupName(name, s_monthNames, 1),
                CronField.DaysOfWeek => LookupName(name, s_dayNames, 0),
                _ => -1,
            };
            if (value < 0)
            {
                error = Invalid(field, token, $"'{name}' is not a known {(field is CronField.Months ? "month" : field is CronField.DaysOfWeek ? "day" : "value")} name");
                return false;
            }

            return true;
        }

        if (!ReadNumber(item, ref pos, out value))
        {
            error = Invalid(field, token, pos < item.Length ? $"unexpected '{item[pos]}'" : "a value is missing");
            return false;
        }

        if (value < min || value > max)
        {
            error = Invalid(field, token, $"{value} is out of range; allowed values are between {min} and {max}");
            return false;
        }

        return true;
    }

    private static int LookupName(ReadOnlySpan<char> name, string[] names, int first)
    {
        if (name.Length == 3)
        {
            // Fast path for the usual three-letter names: compare packed upper-case letters.
            int packed = Pack(name[0], name[1], name[2]);
            for (int i = 0; i < names.Length; i++)
            {
                if (Pack(names[i][0], names[i][1], names[i][2]) == packed)
                {
                    return first + i;
                }
            }

            return -1;
        }

        for (int i = 0; i < names.Length; i++)
        {
            var full = names[i].AsSpan();
            if ((name.Length == 3 && name.Equals(full[..3], StringComparison.OrdinalIgnoreCase)) ||
                name.Equals(full, StringComparison.OrdinalIgnoreCase))
            {
                return first + i;
            }
        }

        return -1;
    }

    private static int Pack(char a, char b, char c) => ((a & ~0x20) << 16) | ((b & ~0x20) << 8) | (c & ~0x20);

    private bool ParseLastDayOfMonth(ReadOnlySpan<char> token, out Error error)
    {
        // L, L-n, LW, L-nW (n from 0 to 30)
        error = default;
        int pos = 1;
        int offset = 0;
        if (pos < token.Length && token[pos] == '-')
        {
            pos++;
            if (!ReadNumber(token, ref pos, out offset) || offset > 30)
            {
                error = Invalid(CronField.DaysOfMonth, token, "L-n needs n between 0 and 30");
                return false;
            }
        }

        if (pos < token.Length && token[pos] is 'W' or 'w')
        {
            pos++;
            _flags |= CronFlags.NearestWeekday;
        }

        if (pos != token.Length)
        {
            error = Invalid(CronField.DaysOfMonth, token, $"unexpected '{token[pos]}'; expected L, L-n, LW or L-nW");
            return false;
        }

        _flags |= CronFlags.DayOfMonthLast;
        _lastMonthOffset = offset;
        _daysOfMonth = 0;
        return true;
    }

    private bool ParseNearestWeekday(ReadOnlySpan<char> token, out Error error)
    {
        // nW: a single day of month
        int pos = 0;
        if (!ReadNumber(token, ref pos, out int day) || pos != token.Length - 1)
        {
            error = Invalid(CronField.DaysOfMonth, token, "W follows a single day of month, as in 15W, LW or L-2W");
            return false;
        }

        if (day < 1 || day > 31)
        {
            error = Invalid(CronField.DaysOfMonth, token, $"{day} is out of range; allowed values are between 1 and 31");
            return false;
        }

        error = default;
        _flags |= CronFlags.NearestWeekday;
        _daysOfMonth = 1UL << day;
        return true;
    }

    private bool ParseSpecialDayOfWeek(ReadOnlySpan<char> token, out Error error)
    {
        // nL (last given weekday) or n#k (k-th given weekday), n a number or a day name
        int pos = 0;
        var value = token[^1] is 'L' or 'l' ? token[..^1] : token;
        if (!ReadValue(CronField.DaysOfWeek, value, ref pos, token, out int day, out error))
        {
            return false;
        }

        day %= 7;
        if (pos < token.Length && token[pos] is 'L' or 'l' && pos == token.Length - 1)
        {
            _flags |= CronFlags.DayOfWeekLast;
            _daysOfWeek = 1UL << day;
            return true;
        }

        if (pos < token.Length && token[pos] == '#')
        {
            pos++;
            if (!ReadNumber(token, ref pos, out int nth) || pos != token.Length || nth < 1 || nth > 5)
            {
                error = Invalid(CronField.DaysOfWeek, token, "n#k needs k between 1 and 5");
                return false;
            }

            _flags |= CronFlags.NthDayOfWeek;
            _nthDayOfWeek = nth;
            _daysOfWeek = 1UL << day;
            return true;
        }

        error = Invalid(CronField.DaysOfWeek, token, pos < token.Length ? $"unexpected '{token[pos]}'" : "expected nL or n#k");
        return false;
    }

    private static Error Invalid(CronField field, ReadOnlySpan<char> token, string why) =>
        new(CronFieldInfo.Name(field), $"'{token}' is not valid: {why}.");
}
