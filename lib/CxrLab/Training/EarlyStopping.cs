namespace CxrLab.Training;

/// <summary>Tracks the best validation score (higher is better) and stops after
/// <see cref="Patience"/> validations without a gain of more than <see cref="MinDelta"/>.
/// Its state is part of the training checkpoint so a resumed run stops where the original would.</summary>
public sealed class EarlyStopping(int patience, double minDelta = 0)
{
    public int Patience { get; } = patience;
    public double MinDelta { get; } = minDelta;

    public double Best { get; private set; } = double.NegativeInfinity;
    public int BestEpoch { get; private set; } = -1;
    public int BadValidations { get; private set; }

    /// <summary>True once patience is exhausted (never when patience is 0).</summary>
    public bool ShouldStop => Patience > 0 && BadValidations >= Patience;

    /// <summary>Records a validation score; returns true when it is a new best.</summary>
    public bool Update(double score, int epoch)
    {
        if (double.IsNaN(score)) { BadValidations++; return false; }
        if (score > Best + MinDelta || double.IsNegativeInfinity(Best))
        {
            Best = score;
            BestEpoch = epoch;
            BadValidations = 0;
            return true;
        }
        BadValidations++;
        return false;
    }

    public EarlyStoppingState State => new(Best, BestEpoch, BadValidations);

    public void Restore(EarlyStoppingState state)
    {
        Best = state.Best;
        BestEpoch = state.BestEpoch;
        BadValidations = state.BadValidations;
    }
}

/// <summary>What <see cref="EarlyStopping"/> must remember across a resume.</summary>
public sealed record EarlyStoppingState(double Best, int BestEpoch, int BadValidations);
