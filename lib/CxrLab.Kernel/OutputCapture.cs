using System.Text;

namespace CxrLab.Kernel;

/// <summary>A Console writer that collects a cell's output and hands it to <paramref name="publish"/>
/// in chunks (on <see cref="Flush"/>, called by the kernel's timer every few tens of ms and before
/// any other output), so text streams to the notebook while the cell runs. Thread-safe.</summary>
internal sealed class OutputCapture(string streamName, Action<string, string> publish) : TextWriter
{
    readonly StringBuilder pending = new();
    readonly object gate = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (gate) pending.Append(value);
    }

    public override void Write(string? value)
    {
        if (value is null) return;
        lock (gate) pending.Append(value);
    }

    public override void Write(char[] buffer, int index, int count)
    {
        lock (gate) pending.Append(buffer, index, count);
    }

    public override void WriteLine(string? value)
    {
        lock (gate) pending.Append(value).Append('\n');
    }

    public override void Flush()
    {
        string text;
        lock (gate)
        {
            if (pending.Length == 0) return;
            text = pending.ToString();
            pending.Clear();
            // Publishing inside the lock keeps chunks in order when two threads flush at once.
            publish(streamName, text);
        }
    }
}

/// <summary>Console input for a cell: asks the front end through the stdin channel (input_request)
/// when the request allowed it.</summary>
internal sealed class InputReader(Func<string, bool, string> ask) : TextReader
{
    string? buffered;

    public override string? ReadLine()
    {
        if (buffered is not null)
        {
            var line = buffered;
            buffered = null;
            return line;
        }
        return ask("", false);
    }

    public override int Read()
    {
        buffered ??= ask("", false) + "\n";
        if (buffered.Length == 0) { buffered = null; return -1; }
        var c = buffered[0];
        buffered = buffered.Length == 1 ? null : buffered[1..];
        return c;
    }

    public override int Peek()
    {
        buffered ??= ask("", false) + "\n";
        return buffered.Length == 0 ? -1 : buffered[0];
    }
}
