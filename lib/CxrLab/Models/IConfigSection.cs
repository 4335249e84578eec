namespace CxrLab.Models;

/// <summary>A family's section of an experiment file (<c>faster_rcnn:</c>, <c>yolox:</c>…): settable properties bound
/// from snake_case keys, checked after binding so a bad value is reported with its file and line.</summary>
public interface IConfigSection
{
    /// <summary>Each bad value: its key inside the section and what is allowed.</summary>
    IEnumerable<(string Key, string Message)> Problems();
}
