package agent

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// RunOptions configures Run.
type RunOptions struct {
	// Interval between the starts of two rounds.
	Interval time.Duration
	// Jitter adds a random delay in [0, Jitter) to each wait, so that a
	// fleet does not check in step.
	Jitter time.Duration
	// AutoInstall converges the device after each check; without it a
	// round only checks and reports.
	AutoInstall bool
	// Once runs one round and returns its error.
	Once bool
	// Round, when set, is called after each round with its outcome (rep
	// or res may be nil).
	Round func(rep *Report, res *Result, recovered []string, err error)
	// After waits; nil means time.After. Tests inject a fake.
	After func(time.Duration) <-chan time.Time
	// Rand returns a number in [0, n); nil means math/rand/v2.
	Rand func(n int64) int64
}

// Run checks on a schedule and, with AutoInstall, converges the device to
// its desired state after each check. Each round opens (and so locks and
// recovers) the state, and closes it before waiting. A round's failure is
// reported to Round and the loop goes on; nothing is installed in a round
// whose check failed, and nothing of a component that the check blocked
// (its role expired, missing or hostile, or a target rejected), while the
// others converge. Run returns nil when ctx is cancelled (between steps:
// an install in progress finishes its journaled step), or, with Once, the
// round's error.
func Run(ctx context.Context, opts Options, ro RunOptions) error {
	if !ro.Once && ro.Interval <= 0 {
		return errors.New("run: interval must be positive")
	}
	after := ro.After
	if after == nil {
		after = time.After
	}
	rnd := ro.Rand
	if rnd == nil {
		rnd = rand.Int64N
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		rep, res, rec, err := round(ctx, opts, ro.AutoInstall)
		if ro.Round != nil {
			ro.Round(rep, res, rec, err)
		}
		if ro.Once {
			return err
		}
		wait := ro.Interval
		if ro.Jitter > 0 {
			wait += time.Duration(rnd(int64(ro.Jitter)))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-after(wait):
		}
	}
}

// round is one check (and converge).
func round(ctx context.Context, opts Options, auto bool) (*Report, *Result, []string, error) {
	a, err := Open(ctx, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	defer a.Close()
	// Queued reports go out after the round's work, with their own
	// deadline; a failure to send waits for a later round.
	defer a.FlushReports(ctx, DefaultFlushTimeout)
	rep, err := a.Check(ctx)
	if rep == nil || !auto || len(rep.Pending()) == 0 {
		return rep, nil, a.Recovered(), err
	}
	// A failure confined to components (err with a report) blocks those
	// only; Apply's error includes it.
	res, err := a.Apply(ctx, rep, nil)
	return rep, res, a.Recovered(), err
}
