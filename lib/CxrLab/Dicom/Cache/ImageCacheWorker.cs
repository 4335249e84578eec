using System.Diagnostics;
using System.Text.Json;

namespace CxrLab.Dicom.Cache;

/// <summary>
/// Out-of-process conversion for untrusted files. Debian's GDCM aborted or corrupted its heap on some corrupt JPEG /
/// JPEG 2000 streams, which no managed exception handler can catch. Those paths are now closed in-process (the native
/// shim decodes grayscale JPEG 2000, JPEG-LS and RLE; JPEG headers are checked before GDCM reads them), but GDCM still
/// decodes the rest, so the worker stays as a second line of defence: a file that kills a worker is reported as
/// "decoder crashed" and the next file gets a fresh worker.
/// Protocol: one JSON request a line on the worker's stdin, one JSON reply a line on its stdout.
/// </summary>
public static class ImageCacheWorker
{
    /// <summary>The reason recorded in errors.csv for a file whose conversion killed the worker.</summary>
    public const string CrashReason = "decoder crashed";

    sealed record Request(string File, string Source, string PngPath, string PngRelative);

    sealed record Reply(bool Ok, string? Reason, string[]? Row);

    /// <summary>The worker's loop (the `cxr dicom convert-worker` verb): converts each requested file in this process.</summary>
    public static void Serve(TextReader input, TextWriter output, ImageCacheOptions options)
    {
        while (input.ReadLine() is { } line)
        {
            if (line.Length == 0) continue;
            Reply reply;
            try
            {
                var request = JsonSerializer.Deserialize<Request>(line) ?? throw new ArgumentException("empty request");
                var row = ImageCacheConverter.ConvertOne(request.File, request.Source, request.PngPath, request.PngRelative, options);
                reply = new Reply(true, null, Csv.Parse(row.ToCsv().TrimEnd('\n'))!.ToArray());
            }
            catch (Exception e)
            {
                reply = new Reply(false, e is DicomException d ? d.Reason : $"{e.GetType().Name}: {e.Message}", null);
            }
            output.WriteLine(JsonSerializer.Serialize(reply));
            output.Flush();
        }
    }

    /// <summary>The arguments that start a worker for <paramref name="options"/> after the CLI's own command line.</summary>
    public static string[] WorkerArguments(ImageCacheOptions options) =>
        ["dicom", "convert-worker", "--size", options.Size.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "--bits", options.Bits.ToString(System.Globalization.CultureInfo.InvariantCulture),
         "--scaling", options.Scaling.ToString(), "--png-compression", options.PngCompression.ToString(System.Globalization.CultureInfo.InvariantCulture),
         .. options.KeepAspect ? new[] { "--keep-aspect" } : []];

    /// <summary>One worker process, started on first use and again after it dies. Not thread-safe: one per thread.</summary>
    internal sealed class Client(string[] command) : IDisposable
    {
        Process? process;

        public ImageCacheRow Convert(string file, string source, string pngPath, string pngRelative)
        {
            var worker = process ??= Start();
            string? line;
            try
            {
                worker.StandardInput.WriteLine(JsonSerializer.Serialize(new Request(file, source, pngPath, pngRelative)));
                worker.StandardInput.Flush();
                line = worker.StandardOutput.ReadLine();
            }
            catch (IOException)
            {
                line = null; // the pipe broke: the worker died
            }
            if (line is null)
            {
                var code = Stop();
                throw new DicomException(file, $"{CrashReason} (worker exit code {code}; the file was skipped and a new worker started)");
            }
            var reply = JsonSerializer.Deserialize<Reply>(line) ?? throw new InvalidDataException($"worker sent '{line}'");
            if (!reply.Ok) throw new DicomException(file, reply.Reason ?? "conversion failed in the worker");
            return ImageCacheRow.FromCsv(reply.Row!) ?? throw new InvalidDataException($"worker sent a malformed row: {line}");
        }

        Process Start()
        {
            var start = new ProcessStartInfo(command[0])
            {
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var a in command.Skip(1)) start.ArgumentList.Add(a);
            var p = Process.Start(start) ?? throw new InvalidOperationException($"could not start the decoder worker {command[0]}");
            p.ErrorDataReceived += (_, _) => { }; // GDCM/libjpeg chatter; drained so the worker never blocks on it
            p.BeginErrorReadLine();
            return p;
        }

        int Stop()
        {
            var p = process;
            process = null;
            if (p is null) return 0;
            try
            {
                if (!p.WaitForExit(5000)) p.Kill();
                p.WaitForExit();
                return p.ExitCode;
            }
            finally
            {
                p.Dispose();
            }
        }

        public void Dispose()
        {
            if (process is not { } p) return;
            try { p.StandardInput.Close(); } catch (IOException) { }
            Stop();
        }
    }
}
