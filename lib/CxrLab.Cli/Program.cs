using System.CommandLine;
using CxrLab.Cli.Verbs;

// `./cxr` bootstraps (packages, native build, dotnet build) and then runs this program.
var root = new RootCommand("CXR Lab: chest X-ray abnormality detection workspace (run ./cxr demo, ./cxr test)");
root.Subcommands.Add(DemoVerb.Create());
root.Subcommands.Add(TestVerb.Create());
root.Subcommands.Add(DoctorVerb.Create());
root.Subcommands.Add(DatasetVerb.Create());
root.Subcommands.Add(AugmentVerb.Create());
root.Subcommands.Add(ScoreVerb.Create());
root.Subcommands.Add(SynthVerb.Create());
root.Subcommands.Add(DicomVerb.Create());
root.Subcommands.Add(ConvertVerb.Create());
root.Subcommands.Add(BenchVerb.Create());
root.Subcommands.Add(KernelVerb.Create());
root.Subcommands.Add(NotebookVerb.Create());
root.Subcommands.Add(TrainVerb.Create());
root.Subcommands.Add(ExperimentsVerb.Create());
root.Subcommands.Add(EnsembleVerb.Create());
root.Subcommands.Add(ClassifierVerb.Create());
root.Subcommands.Add(PredictVerb.Create());
root.Subcommands.Add(SweepVerb.Create());
root.Subcommands.Add(ModelsVerb.Create());
root.Subcommands.Add(DistributedCheckVerb.Create());
return CxrLab.Cli.CliGuard.Invoke(root, args);
