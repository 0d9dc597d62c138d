package agent

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/bsiframework/bsi/install"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/transparency"
)

// Thresholds for status warnings.
const (
	staleCheck   = 48 * time.Hour
	rootWarnings = 30 * 24 * time.Hour
)

// Status is what a device has and what needs attention, read without
// network access.
type Status struct {
	Device    manifest.Device
	Config    Config
	Installed []Installed
	LastCheck *CheckRecord
	Declined  map[string][]Decline
	// History holds the most recent steps, oldest first.
	History []Event
	// Interrupted is a step a crash left pending; the next command that
	// opens the state settles it.
	Interrupted *Step
	// Attention lists, for people, everything that needs a look.
	Attention []string
	// Reports is the state of device reports; nil when never configured.
	Reports *ReportStatus
	// Transparency is what the device keeps of the repository's
	// transparency log (policy, accepted checkpoint, trusted time floor);
	// nil when it never saw a policy.
	Transparency *TransparencyState
}

// ReadStatus reads the state directory dir without locking it or changing
// anything, so that it works while another agent runs. now is the reference
// time for freshness warnings.
func ReadStatus(dir string, now time.Time) (*Status, error) {
	var cfg Config
	if err := readJSON(filepath.Join(dir, configFile), &cfg); err != nil {
		return nil, &NotStateError{Dir: dir, Err: err}
	}
	j, err := readJournal(filepath.Join(dir, journalFile))
	if err != nil {
		return nil, err
	}
	st := &Status{Device: cfg.Device(), Config: cfg, Installed: j.installedList(), LastCheck: j.LastCheck,
		Declined: j.Declined, Interrupted: j.Pending}
	st.History = j.History[max(0, len(j.History)-10):]
	tl, err := readTransparency(filepath.Join(dir, tlogFile))
	if err != nil {
		return nil, err
	}
	if tl.PolicySHA256 != "" || !tl.Floor.IsZero() {
		st.Transparency = tl
	}
	// Expiry warnings use the time the checks use: the later of the
	// device clock and the witnessed floor.
	st.Attention = append(clockAttention(tl, now), attention(&cfg, j, transparency.Now(now, tl.Floor))...)
	st.Attention = append(st.Attention, reportAttention(dir, now)...)
	st.Reports, _ = ReadReportStatus(dir, now) // its error is in Attention
	return st, nil
}

// attention lists what needs a look, most urgent first.
func attention(cfg *Config, j *Journal, now time.Time) []string {
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	if p := j.Pending; p != nil {
		add("an interrupted %s of %s (%s → %s) is pending: the next check or install settles it",
			p.Kind, p.Component, idOrBaseline(p.From), idOrBaseline(p.To))
	}
	lc := j.LastCheck
	switch {
	case lc == nil:
		add("never checked: run bsi client check")
	case lc.Error != "":
		add("last check at %s failed (%s): %s", stamp(lc.At), lc.Class, lc.Error)
	case now.Sub(lc.At) > staleCheck:
		add("last check was %s ago, at %s", now.Sub(lc.At).Round(time.Minute), stamp(lc.At))
	}
	if lc != nil && lc.Freshness != nil {
		f := lc.Freshness
		if !f.TimestampExpires.After(now) {
			add("the trusted timestamp expired at %s: no fresh metadata since %s (a possible freeze)",
				stamp(f.TimestampExpires), stamp(f.Verified))
		}
		if f.RootExpires.Sub(now) < rootWarnings {
			add("the trusted root expires at %s", stamp(f.RootExpires))
		}
	}
	if lc != nil {
		out = append(out, lc.Attention...)
		for _, p := range lc.Pending {
			add("pending %s (bsi client install --all applies it)", p)
		}
	}
	comps := make([]string, 0, len(j.Declined))
	for c := range j.Declined {
		comps = append(comps, c)
	}
	slices.Sort(comps)
	for _, c := range comps {
		for _, d := range j.Declined[c] {
			add("%s %s is declined (%s); bsi client install STATE %s/%s installs it anyway", c, d.ID, d.Reason, c, d.ID)
		}
	}
	return append(out, drift(cfg, j)...)
}

// drift compares the journal with the install root's current links.
func drift(cfg *Config, j *Journal) []string {
	inst, err := install.New(install.Options{Root: cfg.InstallRoot})
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for _, in := range j.installedList() {
		cur, ok, err := inst.Current(in.Component)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("%s: %v", in.Component, err))
		case !ok:
			out = append(out, fmt.Sprintf("%s: the journal says %s is installed, but the install root has no current version", in.Component, in.ID))
		case cur != in.ID:
			out = append(out, fmt.Sprintf("%s: the journal says %s is installed, but the install root's current version is %s", in.Component, in.ID, cur))
		}
	}
	return out
}

// How far the device clock may run ahead of the witnessed time, or behind
// it (witnesses' clocks differ by seconds), before status warns.
const (
	clockSkew   = 24 * time.Hour
	clockBehind = 5 * time.Minute
)

// clockAttention compares the device clock with the trusted time floor:
// behind it now (the clock was set back, or lost: checks use the floor),
// or, when the floor last rose, more than clockSkew ahead of the time the
// witnesses vouched for (a clock set forward would let metadata expire
// early, or hide a freeze until it is too late).
func clockAttention(tl *TransparencyState, now time.Time) []string {
	if tl.Floor.IsZero() {
		return nil
	}
	switch {
	case tl.Floor.Sub(now) > clockBehind:
		return []string{fmt.Sprintf("the device clock (%s) is behind the time its log's witnesses vouched for (%s): expiry is checked against the latter; set the clock",
			stamp(now), stamp(tl.Floor))}
	case !tl.FloorRaised.IsZero() && tl.FloorRaised.Sub(tl.Floor) > clockSkew:
		return []string{fmt.Sprintf("the device clock read %s when the witnesses vouched for %s, %s ahead: check the clock (or the log has not been cosigned for that long)",
			stamp(tl.FloorRaised), stamp(tl.Floor), tl.FloorRaised.Sub(tl.Floor).Round(time.Minute))}
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
