using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace CxrLab.Torch.Serialization;

/// <summary>A callable named by a pickle GLOBAL that this reader does not evaluate (it never
/// executes anything from a pickle); kept so the caller can see what the file referenced.</summary>
public sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>The result of calling an unknown <see cref="PickleGlobal"/>: its arguments, kept as data.</summary>
public sealed record PickleObject(PickleGlobal Type, IReadOnlyList<object?> Arguments)
{
    public object? State { get; set; }
    public override string ToString() => $"{Type}(…)";
}

/// <summary>Reads the subset of Python's pickle format (protocols 2–5) that <c>torch.save</c>
/// writes: containers, numbers, strings, bytes, tuples, persistent ids and a fixed allow-list of
/// globals. Nothing from the file is executed: known globals are interpreted by C# code; unknown
/// ones become inert <see cref="PickleObject"/>s.</summary>
public sealed class PickleReader
{
    readonly Stream stream;
    readonly string source;
    readonly Func<object?, object?> persistentLoad;
    readonly Func<PickleGlobal, IReadOnlyList<object?>, object?>? call;
    readonly Dictionary<long, object?> memo = new();
    readonly List<object?> stack = new();
    readonly Stack<int> marks = new();

    /// <param name="stream">positioned at the pickle's first opcode; left just after STOP.</param>
    /// <param name="source">file name used in error messages.</param>
    /// <param name="persistentLoad">resolves a persistent id (torch storages).</param>
    /// <param name="call">interprets a call of an allow-listed global; return null to keep it inert.</param>
    public PickleReader(Stream stream, string source, Func<object?, object?> persistentLoad,
        Func<PickleGlobal, IReadOnlyList<object?>, object?>? call = null)
    {
        this.stream = stream;
        this.source = source;
        this.persistentLoad = persistentLoad;
        this.call = call;
    }

    /// <summary>Reads one pickle up to its STOP opcode.</summary>
    public object? Load()
    {
        memo.Clear();
        stack.Clear();
        marks.Clear();
        while (true)
        {
            var position = stream.Position;
            var opcode = stream.ReadByte();
            if (opcode < 0) throw Error(position, "file ends inside a pickle (truncated?)");
            switch ((char)opcode)
            {
                case '\x80': ReadByte(); break; // PROTO
                case '\x95': ReadBytes(8); break; // FRAME: framing is transparent for a seekable stream
                case '.': return Pop(position); // STOP
                case '(': marks.Push(stack.Count); break; // MARK
                case '}': stack.Add(new Dictionary<object, object?>()); break;
                case ']': stack.Add(new List<object?>()); break;
                case ')': stack.Add(Array.Empty<object?>()); break;
                case 'N': stack.Add(null); break;
                case '\x88': stack.Add(true); break;
                case '\x89': stack.Add(false); break;
                case 'K': stack.Add((long)ReadByte()); break; // BININT1
                case 'M': stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break;
                case 'J': stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;
                case '\x8a': stack.Add(ReadLong(ReadByte(), position)); break; // LONG1
                case '\x8b': stack.Add(ReadLong(CheckedLength(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)), position), position)); break;
                case 'G': stack.Add(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break; // BINFLOAT
                case 'X': stack.Add(Utf8(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)), position)); break;
                case '\x8c': stack.Add(Utf8(ReadByte(), position)); break; // SHORT_BINUNICODE
                case '\x8d': stack.Add(Utf8(BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8)), position)); break;
                case 'U': stack.Add(Encoding.Latin1.GetString(ReadBytes(ReadByte()))); break; // SHORT_BINSTRING
                case 'T': stack.Add(Encoding.Latin1.GetString(ReadBytes(CheckedLength(BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4)), position)))); break;
                case 'C': stack.Add(ReadBytes(ReadByte())); break; // SHORT_BINBYTES
                case 'B': stack.Add(ReadBytes(CheckedLength(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)), position))); break;
                case '\x8e': stack.Add(ReadBytes(CheckedLength(BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8)), position))); break;
                case 'q': memo[ReadByte()] = Peek(position); break; // BINPUT
                case 'r': memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(position); break;
                case '\x94': memo[memo.Count] = Peek(position); break; // MEMOIZE
                case 'h': stack.Add(FromMemo(ReadByte(), position)); break; // BINGET
                case 'j': stack.Add(FromMemo(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)), position)); break;
                case 't': stack.Add(PopToMark(position).ToArray()); break; // TUPLE
                case '\x85': stack.Add(new[] { Pop(position) }); break;
                case '\x86': { var b = Pop(position); var a = Pop(position); stack.Add(new[] { a, b }); break; }
                case '\x87': { var c = Pop(position); var b = Pop(position); var a = Pop(position); stack.Add(new[] { a, b, c }); break; }
                case 'l': stack.Add(PopToMark(position)); break; // LIST
                case 'd': stack.Add(ToDictionary(PopToMark(position), position)); break; // DICT
                case 'a': { var item = Pop(position); AsList(Peek(position), position).Add(item); break; } // APPEND
                case 'e': { var items = PopToMark(position); AsList(Peek(position), position).AddRange(items); break; }
                case 's': { var value = Pop(position); var key = Pop(position); AsDict(Peek(position), position)[Key(key, position)] = value; break; }
                case 'u':
                {
                    var items = PopToMark(position);
                    var dict = AsDict(Peek(position), position);
                    for (var i = 0; i + 1 < items.Count; i += 2) dict[Key(items[i], position)] = items[i + 1];
                    break;
                }
                case 'c': stack.Add(new PickleGlobal(ReadLine(), ReadLine())); break; // GLOBAL
                case '\x93': { var name = Pop(position); var module = Pop(position); stack.Add(new PickleGlobal((string)module!, (string)name!)); break; }
                case 'Q': stack.Add(persistentLoad(Pop(position))); break; // BINPERSID
                case 'R': { var args = Pop(position); var fn = Pop(position); stack.Add(Call(fn, args, position)); break; } // REDUCE
                case '\x81': { var args = Pop(position); var cls = Pop(position); stack.Add(Call(cls, args, position)); break; } // NEWOBJ
                case 'b': // BUILD: attach state to an inert object; containers ignore it
                {
                    var state = Pop(position);
                    if (Peek(position) is PickleObject o) o.State = state;
                    break;
                }
                default:
                    throw Error(position, $"unsupported pickle opcode 0x{opcode:x2} ('{(char)opcode}'); this reader only accepts what torch.save writes");
            }
        }
    }

    object? Call(object? fn, object? args, long position)
    {
        if (fn is not PickleGlobal global) throw Error(position, $"REDUCE on a non-callable {fn?.GetType().Name ?? "None"}");
        var arguments = args as object?[] ?? throw Error(position, $"REDUCE arguments for {global} are not a tuple");
        if (global is { Module: "collections", Name: "OrderedDict" }) return new Dictionary<object, object?>();
        if (global is { Module: "builtins", Name: "set" or "frozenset" }) return arguments.Length > 0 ? arguments[0] : new List<object?>();
        return call?.Invoke(global, arguments) ?? new PickleObject(global, arguments);
    }

    byte ReadByte()
    {
        var b = stream.ReadByte();
        if (b < 0) throw Error(stream.Position, "file ends inside a pickle (truncated?)");
        return (byte)b;
    }

    byte[] ReadBytes(int count)
    {
        var buffer = new byte[count];
        stream.ReadExactly(buffer);
        return buffer;
    }

    byte[] ReadBytes(long count) => ReadBytes(checked((int)count));

    int CheckedLength(long length, long position)
    {
        if (length < 0 || length > stream.Length - stream.Position)
            throw Error(position, $"a length field says {length} bytes but only {stream.Length - stream.Position} remain (corrupt file)");
        return (int)length;
    }

    string Utf8(long length, long position) => Encoding.UTF8.GetString(ReadBytes(CheckedLength(length, position)));

    object ReadLong(int byteCount, long position)
    {
        var value = new BigInteger(ReadBytes(byteCount), isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    string ReadLine()
    {
        var bytes = new List<byte>();
        while (true)
        {
            var b = ReadByte();
            if (b == '\n') return Encoding.ASCII.GetString(bytes.ToArray());
            bytes.Add(b);
            if (bytes.Count > 1024) throw Error(stream.Position, "GLOBAL name longer than 1024 bytes (corrupt file)");
        }
    }

    object? Pop(long position)
    {
        if (stack.Count == 0 || (marks.Count > 0 && marks.Peek() == stack.Count)) throw Error(position, "pickle stack underflow (corrupt file)");
        var top = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return top;
    }

    object? Peek(long position) => stack.Count > 0 ? stack[^1] : throw Error(position, "pickle stack underflow (corrupt file)");

    List<object?> PopToMark(long position)
    {
        if (marks.Count == 0) throw Error(position, "pickle MARK missing (corrupt file)");
        var mark = marks.Pop();
        var items = stack.GetRange(mark, stack.Count - mark);
        stack.RemoveRange(mark, stack.Count - mark);
        return items;
    }

    object? FromMemo(long index, long position) =>
        memo.TryGetValue(index, out var value) ? value : throw Error(position, $"pickle memo entry {index} was never stored (corrupt file)");

    static object Key(object? key, long position) => key ?? "None";

    Dictionary<object, object?> ToDictionary(List<object?> items, long position)
    {
        var dict = new Dictionary<object, object?>();
        for (var i = 0; i + 1 < items.Count; i += 2) dict[Key(items[i], position)] = items[i + 1];
        return dict;
    }

    List<object?> AsList(object? value, long position) =>
        value as List<object?> ?? throw Error(position, $"APPEND to a {value?.GetType().Name ?? "None"}, not a list");

    Dictionary<object, object?> AsDict(object? value, long position) =>
        value as Dictionary<object, object?> ?? throw Error(position, $"SETITEM on a {value?.GetType().Name ?? "None"}, not a dict");

    CheckpointException Error(long position, string message) => new($"{source}: pickle byte {position}: {message}");
}
