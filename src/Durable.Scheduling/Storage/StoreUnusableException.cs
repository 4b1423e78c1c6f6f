namespace Durable.Scheduling.Storage;

/// <summary>
/// The store cannot work as configured, and retrying will not help: a damaged, foreign or newer schema, a read-only
/// database, a path that cannot hold one. A store throws it (or a type derived from it) instead of a plain
/// <see cref="IOException"/> for such problems; the scheduler then fails start-up with it rather than retrying for
/// ever. Any other store failure at start-up (unreachable, locked) lets the scheduler start and retry with back-off.
/// </summary>
public class StoreUnusableException : IOException
{
    /// <summary>Creates the exception.</summary>
    public StoreUnusableException()
    {
    }

    /// <summary>Creates the exception with a message naming the store (file, database) and what is wrong.</summary>
    /// <param name="message">The message.</param>
    public StoreUnusableException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the provider's exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public StoreUnusableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
