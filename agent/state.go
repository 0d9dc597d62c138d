package agent

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/rollout"
)

// Names inside the state directory.
const (
	configFile   = "config.json"
	journalFile  = "installed.json"
	metadataDir  = "metadata"
	cacheDir     = "cache"
	lockFile     = ".lock"
	installDir   = "root"
	formatV1     = 1
	historyLimit = 100
)

// Config is a device's STATE/config.json.
type Config struct {
	Platform string `json:"platform"`
	Release  string `json:"release"`
	Build    string `json:"build,omitempty"`
	// MetadataURL is the repository's metadata base URL.
	MetadataURL string `json:"metadata_url"`
	// TargetsURL is the payload base URL; empty means MetadataURL + "/targets".
	TargetsURL string `json:"targets_url,omitempty"`
	// InstallRoot is where improvements are applied (absolute).
	InstallRoot string `json:"install_root"`
	// Ring is the rollout ring the device belongs to ("canary"), "" for
	// none (see package rollout).
	Ring string `json:"ring,omitempty"`
}

// Device is the device the configuration describes.
func (c *Config) Device() manifest.Device {
	return manifest.Device{Platform: c.Platform, Release: c.Release, Build: c.Build}
}

// Validate checks that the configuration is usable. The error is a
// *ConfigError.
func (c *Config) Validate() error {
	for _, f := range []struct{ name, v string }{{"platform", c.Platform}, {"release", c.Release}, {"build", c.Build}} {
		if f.v == "" && f.name != "build" {
			return &ConfigError{Field: f.name, Problem: "missing"}
		}
		if strings.ContainsFunc(f.v, func(r rune) bool { return r <= ' ' || r == '/' || r == 0x7f }) {
			return &ConfigError{Field: f.name, Problem: fmt.Sprintf("%q contains a space, a control character or '/'", f.v)}
		}
	}
	for _, f := range []struct{ name, v string }{{"metadata_url", c.MetadataURL}, {"targets_url", c.TargetsURL}} {
		if f.v == "" && f.name == "targets_url" {
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return &ConfigError{Field: f.name, Problem: fmt.Sprintf("%q is not an http or https URL", f.v)}
		}
		// A password in the URL would be printed in every fetch error and
		// kept in the journal; a fragment or query would end up in the
		// middle of every joined URL.
		if u.User != nil {
			return &ConfigError{Field: f.name, Problem: "has a user name or password in it (use a proxy or TLS client certificates instead)"}
		}
		if u.Fragment != "" || strings.Contains(f.v, "#") || u.RawQuery != "" {
			return &ConfigError{Field: f.name, Problem: fmt.Sprintf("%q has a query or fragment; give the prefix files are appended to", u.Redacted())}
		}
	}
	if c.Ring != "" {
		if err := rollout.ValidRing(c.Ring); err != nil {
			return &ConfigError{Field: "ring", Problem: err.Error()}
		}
	}
	if !filepath.IsAbs(c.InstallRoot) {
		return &ConfigError{Field: "install_root", Problem: fmt.Sprintf("%q is not an absolute path", c.InstallRoot)}
	}
	return nil
}

// ConfigError is a bad field of the device configuration.
type ConfigError struct{ Field, Problem string }

func (e *ConfigError) Error() string { return "config: " + e.Field + ": " + e.Problem }

// Journal is STATE/installed.json: what is installed per component, the
// step in progress, the improvements the device declines, recent history
// and the outcome of the last check. It is rewritten atomically before and
// after every change of the install root, so that after a crash Recover
// knows what was being done.
type Journal struct {
	Format    int                   `json:"format"`
	Installed map[string]*Installed `json:"installed"`
	// Pending is the step in progress; nil when none is.
	Pending *Step `json:"pending,omitempty"`
	// Declined lists, per component, improvements never to be installed
	// automatically again: removed by the user, or failed their health
	// check. An explicit "install ID" clears the entry.
	Declined  map[string][]Decline `json:"declined,omitempty"`
	History   []Event              `json:"history,omitempty"`
	LastCheck *CheckRecord         `json:"last_check,omitempty"`
	// Rollout is what the last verified rollout role named; nil when none
	// was ever verified.
	Rollout *RolloutRecord `json:"rollout,omitempty"`
}

// Step is one change of one component, recorded before it starts.
type Step struct {
	Kind      Kind       `json:"kind"`
	Component string     `json:"component"`
	From      *Installed `json:"from,omitempty"`
	// To is the improvement being switched to; nil means the baseline.
	To      *Installed `json:"to,omitempty"`
	Payload string     `json:"payload,omitempty"`
	Reason  string     `json:"reason"`
	Started time.Time  `json:"started"`
	// Decline, when set, is recorded in Declined when the step finishes
	// (a user's rollback declines the improvement it removes), and not at
	// all when it is undone: the decline and the switch are one step.
	Decline *Decline `json:"decline,omitempty"`
}

// Decline is an improvement the device will not install by itself.
type Decline struct {
	ID     string    `json:"id"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Event is one finished (or undone) step, for status and audits.
type Event struct {
	At        time.Time `json:"at"`
	Kind      Kind      `json:"kind"`
	Component string    `json:"component"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Result    string    `json:"result"`
}

// CheckRecord is the outcome of the last check.
type CheckRecord struct {
	At time.Time `json:"at"`
	// Error is the failure of the check, "" when it verified. Class is
	// "security", "freshness" or "operational".
	Error string `json:"error,omitempty"`
	Class string `json:"class,omitempty"`
	// Freshness is that of the last successful verification.
	Freshness *Freshness `json:"freshness,omitempty"`
	// Pending lists changes the plan wanted but that were not made.
	Pending []string `json:"pending,omitempty"`
	// Attention lists what a person should look at (kept improvements,
	// rejected targets, blocked components).
	Attention []string `json:"attention,omitempty"`
	// Components lists the components the check could not decide, and
	// why; the others were decided (and installed) as usual.
	Components []ComponentRecord `json:"components,omitempty"`
	// Rollouts lists the improvements a rollout gates for this device.
	Rollouts []RolloutState `json:"rollouts,omitempty"`
}

// ComponentRecord is a component whose metadata or targets failed in the
// last check. Class is "security", "freshness" or "operational".
type ComponentRecord struct {
	Component string `json:"component"`
	Class     string `json:"class"`
	Error     string `json:"error"`
}

// Freshness is when metadata was last verified and when each trusted role
// expires.
type Freshness struct {
	Verified         time.Time `json:"verified"`
	TimestampExpires time.Time `json:"timestamp_expires"`
	SnapshotExpires  time.Time `json:"snapshot_expires"`
	TargetsExpires   time.Time `json:"targets_expires"`
	RootExpires      time.Time `json:"root_expires"`
	TimestampVersion int64     `json:"timestamp_version"`
	SnapshotVersion  int64     `json:"snapshot_version"`
}

func newJournal() *Journal {
	return &Journal{Format: formatV1, Installed: map[string]*Installed{}}
}

func readJournal(name string) (*Journal, error) {
	j := newJournal()
	if err := readJSON(name, j); err != nil {
		return nil, err
	}
	if j.Format != formatV1 {
		return nil, fmt.Errorf("%s: unknown format %d", name, j.Format)
	}
	if j.Installed == nil {
		j.Installed = map[string]*Installed{}
	}
	for c, in := range j.Installed {
		if in == nil || in.Component != c || in.ID == "" || in.Manifest == nil {
			return nil, fmt.Errorf("%s: installed entry %q is incomplete", name, c)
		}
	}
	if p := j.Pending; p != nil && (p.From != nil && p.From.Manifest == nil || p.To != nil && p.To.Manifest == nil) {
		return nil, fmt.Errorf("%s: pending step is incomplete", name)
	}
	return j, nil
}

func (j *Journal) addEvent(e Event) {
	j.History = append(j.History, e)
	if n := len(j.History) - historyLimit; n > 0 {
		j.History = append([]Event(nil), j.History[n:]...)
	}
}

func (j *Journal) declined(component, id string) bool {
	for _, d := range j.Declined[component] {
		if d.ID == id {
			return true
		}
	}
	return false
}

func (j *Journal) decline(component, id, reason string, at time.Time) {
	j.undecline(component, id)
	if j.Declined == nil {
		j.Declined = map[string][]Decline{}
	}
	j.Declined[component] = append(j.Declined[component], Decline{ID: id, Reason: reason, At: at})
}

func (j *Journal) undecline(component, id string) {
	ds := j.Declined[component]
	out := ds[:0]
	for _, d := range ds {
		if d.ID != id {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		delete(j.Declined, component)
	} else {
		j.Declined[component] = out
	}
}

// installedList returns the installed improvements in component order.
func (j *Journal) installedList() []Installed {
	out := make([]Installed, 0, len(j.Installed))
	for _, in := range j.Installed {
		out = append(out, *in)
	}
	sortInstalled(out)
	return out
}

// StateExistsError is returned by Init for a state directory that exists
// and is not empty.
type StateExistsError struct{ Dir string }

func (e *StateExistsError) Error() string {
	return fmt.Sprintf("state directory %s exists and is not empty", e.Dir)
}

// checkEmpty reports whether dir is absent (created=true) or empty.
func checkEmpty(dir string) (absent bool, err error) {
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true, nil
	case err != nil:
		return false, err
	case len(ents) > 0:
		return false, &StateExistsError{Dir: dir}
	}
	return false, nil
}

// LockedError is a state directory in use by another agent.
type LockedError struct{ File, PID string }

func (e *LockedError) Error() string {
	if e.PID == "" {
		return fmt.Sprintf("state is in use by another bsi client (lock %s)", e.File)
	}
	return fmt.Sprintf("state is in use by another bsi client, pid %s (lock %s)", e.PID, e.File)
}
