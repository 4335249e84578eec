namespace CxrLab.Data;

/// <summary>An axis-aligned box in absolute pixel coordinates of the current image, xyxy:
/// <c>0 ≤ X1 &lt; X2 ≤ width</c>, <c>0 ≤ Y1 &lt; Y2 ≤ height</c> for a valid box.</summary>
public readonly record struct Box(float X1, float Y1, float X2, float Y2)
{
    public float Width => X2 - X1;
    public float Height => Y2 - Y1;

    /// <summary>Area; zero for degenerate (empty or inverted) boxes.</summary>
    public float Area => Width > 0 && Height > 0 ? Width * Height : 0;

    /// <summary>True when the box has positive width and height.</summary>
    public bool IsValid => X2 > X1 && Y2 > Y1;

    /// <summary>Builds a box from Kaggle/COCO's top-left corner plus size.</summary>
    public static Box FromXywh(float x, float y, float width, float height) => new(x, y, x + width, y + height);

    /// <summary>Intersection over union; 0 when either box is empty.</summary>
    public float Iou(Box other)
    {
        var iw = MathF.Min(X2, other.X2) - MathF.Max(X1, other.X1);
        var ih = MathF.Min(Y2, other.Y2) - MathF.Max(Y1, other.Y1);
        if (iw <= 0 || ih <= 0) return 0;
        var inter = iw * ih;
        var union = Area + other.Area - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>Clips to an image of the given size.</summary>
    public Box Clip(float width, float height) =>
        new(Math.Clamp(X1, 0, width), Math.Clamp(Y1, 0, height), Math.Clamp(X2, 0, width), Math.Clamp(Y2, 0, height));

    /// <summary>Scales coordinates (e.g. from a resized cache image back to original pixels).</summary>
    public Box Scale(float sx, float sy) => new(X1 * sx, Y1 * sy, X2 * sx, Y2 * sy);

    public override string ToString() => $"[{X1:0.#}, {Y1:0.#}, {X2:0.#}, {Y2:0.#}]";
}
