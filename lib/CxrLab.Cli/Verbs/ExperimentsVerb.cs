using System.CommandLine;
using System.Runtime.InteropServices;
using CxrLab.Data;
using CxrLab.Experiments;
using Spectre.Console;

namespace CxrLab.Cli.Verbs;

/// <summary>`cxr experiments run GRID.yaml` runs a models × categories grid (each cell an ordinary, resumable experiment,
/// skipped when its result exists); `cxr experiments table [GRID.yaml] [--json] [--per-class]` prints the model × category
/// validation mAP@0.4 beside the seed's numbers and writes table.md/.csv/.json and heatmap.html next to the runs.</summary>
public static class ExperimentsVerb
{
    public static Command Create()
    {
        var grid = new Argument<string>("grid") { Description = "grid file, e.g. experiments/grids/vinbig_phantom.yaml" };
        var only = new Option<string[]>("--cell") { Description = "run only these cells (MODEL_CATEGORY, e.g. yolox_C, or 'classifier' for the grid's normal/abnormal classifier; repeatable)" };
        var run = new Command("run", "Run a grid: its normal/abnormal classifier (with a classifier: key) and every cell (models × categories) as an experiment; finished steps are skipped, interrupted ones resumed") { grid, only };
        run.SetAction(parse => Run(parse.GetValue(grid)!, parse.GetValue(only) ?? []));

        var tableGrid = new Argument<string?>("grid") { Description = "grid file (default: the grid last run here)", Arity = ArgumentArity.ZeroOrOne };
        var json = new Option<bool>("--json") { Description = "print a JSON list of {model, category, val_map40, seed_map40} rows" };
        var perClass = new Option<bool>("--per-class") { Description = "add AP per class" };
        var table = new Command("table", "The grid's model × category validation mAP@0.4 (single models, hflip TTA, WBF ensemble, and +filter rows through the normal/abnormal classifier) beside the seed's numbers") { tableGrid, json, perClass };
        table.SetAction(parse => Table(parse.GetValue(tableGrid), parse.GetValue(json), parse.GetValue(perClass)));
        return new Command("experiments", "Experiment grids: run models × categories, print the score table") { run, table };
    }

    static int Run(string path, string[] only)
    {
        var grid = ExperimentGrid.Load(path);
        var cells = grid.Cells().Select(c => c.Name).ToList();
        if (grid.Classifier is not null) cells.Add("classifier");
        foreach (var c in only)
            if (!cells.Contains(c)) throw new UsageException($"--cell {c}: the grid has {string.Join(", ", cells)}");
        void Say(string msg) => AnsiConsole.MarkupLine(Markup.Escape(msg));
        using var cts = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
        Console.CancelKeyPress += onCancel;
        using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cts.Cancel(); });
        var names = VinBigClasses.Names;
        try
        {
            GridRunner.EnsureData(grid, Say);
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(GridRunner.LatestGridFile))!);
            File.WriteAllText(GridRunner.LatestGridFile, grid.Source + Environment.NewLine);
            if (grid.Classifier is not null && (only.Length == 0 || only.Contains("classifier")))
            {
                AnsiConsole.MarkupLine("[bold]normal/abnormal classifier[/] (the table's +filter rows)");
                var classifier = GridRunner.RunClassifier(grid, Say, trainer => trainer.EpochDone += e =>
                    Say(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"classifier epoch {e.Epoch + 1}/{e.Epochs}: loss {e.Loss:0.0000}, val_auc {e.ValAuc:0.0000}, val_accuracy {e.ValAccuracy:0.000} ({e.Seconds:0.0} s)")), cts.Token);
                if (classifier is null)
                {
                    AnsiConsole.MarkupLine($"[yellow]interrupted[/]; state saved. Continue with: ./cxr experiments run {Markup.Escape(path)}");
                    return 130;
                }
            }
            var todo = grid.Cells().Where(c => only.Length == 0 || only.Contains(c.Name)).ToList();
            for (var k = 0; k < todo.Count; k++)
            {
                var cell = todo[k];
                AnsiConsole.MarkupLine($"[bold]cell {k + 1}/{todo.Count}: {Markup.Escape(cell.Name)}[/] ({Markup.Escape(cell.ConfigFile)})");
                var result = GridRunner.RunCell(grid, cell, Say, (trainer, token) => TrainingConsole.Fit(trainer, names, token), cts.Token);
                if (result is null)
                {
                    AnsiConsole.MarkupLine($"[yellow]interrupted[/]; state saved. Continue with: ./cxr experiments run {Markup.Escape(path)}");
                    return 130;
                }
            }
        }
        finally { Console.CancelKeyPress -= onCancel; }
        var table = GridTable.Build(grid);
        var files = table.Write();
        Console.WriteLine(table.Markdown());
        AnsiConsole.MarkupLine($"written: {Markup.Escape(string.Join(", ", files))}");
        return 0;
    }

    static int Table(string? path, bool json, bool perClass)
    {
        if (path is null)
        {
            if (!File.Exists(GridRunner.LatestGridFile))
                throw new UsageException($"no grid has run here yet ({GridRunner.LatestGridFile} is missing): name one, e.g. ./cxr experiments table experiments/grids/vinbig_phantom.yaml");
            path = File.ReadAllText(GridRunner.LatestGridFile).Trim();
        }
        var table = GridTable.Build(ExperimentGrid.Load(path));
        var files = table.Write(perClass);
        if (json) Console.WriteLine(table.Json(perClass));
        else
        {
            Console.WriteLine(table.Markdown(perClass));
            Console.WriteLine($"written: {string.Join(", ", files)}");
        }
        return 0;
    }
}
