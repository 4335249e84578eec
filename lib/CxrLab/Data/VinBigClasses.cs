namespace CxrLab.Data;

/// <summary>The 15 VinBigData class ids and names (0–13 findings, 14 "No finding").</summary>
public static class VinBigClasses
{
    public const int NoFinding = 14;
    public const int Count = 15;

    /// <summary>Number of abnormal (box) classes, 0–13.</summary>
    public const int FindingCount = 14;

    public static IReadOnlyList<string> Names { get; } =
    [
        "Aortic enlargement", "Atelectasis", "Calcification", "Cardiomegaly", "Consolidation", "ILD",
        "Infiltration", "Lung Opacity", "Nodule/Mass", "Other lesion", "Pleural effusion",
        "Pleural thickening", "Pneumothorax", "Pulmonary fibrosis", "No finding",
    ];

    /// <summary>Box rows per class in the real train.csv (../shared/REFERENCES.md), used to shape phantom data.</summary>
    public static IReadOnlyList<int> TrainBoxRows { get; } =
        [7162, 279, 960, 5427, 556, 1000, 1247, 2483, 2580, 2203, 2476, 4842, 226, 4655, 31818];

    /// <summary>The box Kaggle scores "No finding" with (original pixels).</summary>
    public static Box NoFindingBox => new(0, 0, 1, 1);

    public static string NameOf(int classId) => classId >= 0 && classId < Count ? Names[classId] : $"class {classId}";
}

/// <summary>RSNA Pneumonia names: the one box class and the three detailed image classes.</summary>
public static class RsnaClasses
{
    /// <summary>Box label of an opacity in a <see cref="Target"/>.</summary>
    public const int LungOpacity = 0;

    public const string LungOpacityName = "Lung Opacity";
    public const string NotNormalName = "No Lung Opacity / Not Normal";
    public const string NormalName = "Normal";

    /// <summary>Detailed classes in a fixed order (index used for stratification).</summary>
    public static IReadOnlyList<string> Detailed { get; } = [LungOpacityName, NotNormalName, NormalName];
}
