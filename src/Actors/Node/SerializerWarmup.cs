using System.Collections;
using System.Diagnostics;
using System.Reflection;
using Akka.Actor;
using Lockstep.Actors.Protocol;

namespace Lockstep.Actors.Node;

/// <summary>
/// Has the node's serializer build its code for every protocol message before a fault needs it. Hyperion compiles a
/// type's serializer the first time it meets the type, and the remoting writer that meets it holds every later
/// message to that node meanwhile: the first secondary a primary placed after losing one reached its node 132 ms
/// after it was sent, and the answers of the VM's front door there waited behind it (`bench/door-gap.sh
/// kill-secondary`, docs/benchmarks.md "Eighth session"). A node that has never been a VM's primary meets the
/// answers' and the announcements' types first at its takeover, in the same way.
/// </summary>
public static class SerializerWarmup
{
    /// <summary>What one warm-up did: the types written and read back, and those that could not be (with why).</summary>
    public sealed record Result(IReadOnlyList<Type> Warmed, IReadOnlyList<(Type Type, string Why)> Skipped, TimeSpan Took);

    /// <summary>The messages the nodes send one another: every public record of <see cref="Protocol"/>.</summary>
    public static IEnumerable<Type> ProtocolTypes() =>
        typeof(LaunchSpec).Assembly.GetExportedTypes()
            .Where(type => type.Namespace == typeof(LaunchSpec).Namespace && type is { IsClass: true, IsAbstract: false, IsGenericTypeDefinition: false })
            .OrderBy(type => type.FullName, StringComparer.Ordinal);

    /// <summary>Writes and reads back one sample of each protocol type with the serializer the system would use for it.</summary>
    public static Result Run(ActorSystem system) => Run(system, ProtocolTypes());

    /// <summary>As <see cref="Run(ActorSystem)"/>, for the given <paramref name="types"/>.</summary>
    public static Result Run(ActorSystem system, IEnumerable<Type> types)
    {
        var watch = Stopwatch.StartNew();
        var samples = new Samples(system);
        var warmed = new List<Type>();
        var skipped = new List<(Type, string)>();
        foreach (var type in types)
        {
            try
            {
                var sample = samples.Of(type, depth: 0) ?? throw new InvalidOperationException("no sample could be made");
                var serializer = system.Serialization.FindSerializerFor(sample);
                var copy = serializer.FromBinary(serializer.ToBinary(sample), type);
                if (copy?.GetType() != type) throw new InvalidOperationException($"read back as {copy?.GetType().Name ?? "null"}");
                warmed.Add(type);
            }
            catch (Exception e)
            {
                if (e is TargetInvocationException { InnerException: { } inner }) e = inner;
                // A type that cannot be sampled here is built when first sent, as without the warm-up.
                skipped.Add((type, e.Message));
            }
        }
        return new Result(warmed, skipped, watch.Elapsed);
    }

    /// <summary>Sample values: the longest constructor of a record, filled with a non-empty value per parameter where one is known.</summary>
    private sealed class Samples(ActorSystem system)
    {
        private const int MaxDepth = 4;

        public object? Of(Type type, int depth)
        {
            if (Nullable.GetUnderlyingType(type) is { } inner) return Of(inner, depth);
            if (type == typeof(string)) return "warm-up";
            if (type == typeof(byte[])) return new byte[] { 1, 2, 3 };
            if (type == typeof(Guid)) return Guid.NewGuid();
            if (type == typeof(DateTime)) return DateTime.UtcNow;
            if (type == typeof(TimeSpan)) return TimeSpan.FromMilliseconds(1);
            if (type.IsEnum) return Enum.GetValues(type).GetValue(0);
            if (type.IsValueType) return Activator.CreateInstance(type);
            if (type == typeof(IActorRef)) return system.DeadLetters;
            if (type == typeof(Address)) return ((ExtendedActorSystem)system).Provider.DefaultAddress;
            if (ElementOf(type) is { } element) return ListOf(element, depth);
            // Below the message itself only protocol records are built; anything else (a Machine) goes as null.
            if (depth > 0 && (depth >= MaxDepth || type.Namespace != typeof(LaunchSpec).Namespace)) return null;
            var constructor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).FirstOrDefault();
            if (constructor is null) return null;
            var arguments = constructor.GetParameters().Select(p => Of(p.ParameterType, depth + 1) ?? (p.HasDefaultValue ? p.DefaultValue : null)).ToArray();
            return constructor.Invoke(arguments);
        }

        // What the messages declare as IReadOnlyList<T>: sent as the List<T> the actors build, so that is the type to build for.
        private static Type? ElementOf(Type type) =>
            type.IsGenericType && type.GetGenericTypeDefinition() is var definition
                && (definition == typeof(IReadOnlyList<>) || definition == typeof(List<>) || definition == typeof(IEnumerable<>))
                ? type.GetGenericArguments()[0]
                : null;

        private IList ListOf(Type element, int depth)
        {
            var list = (IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            if (Of(element, depth + 1) is { } one) list.Add(one);
            return list;
        }
    }
}
