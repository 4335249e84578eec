namespace CxrLab.Imaging;

/// <summary>Interpolation modes, numbered as OpenCV's cv::InterpolationFlags.</summary>
public enum Interpolation
{
    Nearest = 0,
    Linear = 1,
    Cubic = 2,
    Area = 3,
    Lanczos4 = 4,
}
