package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bsiframework/bsi/install"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust/client"
)

// Options configures an Agent. Only State is required.
type Options struct {
	// State is the state directory made by Init.
	State string
	// HTTPClient fetches metadata and payloads; nil means trust/client's
	// default.
	HTTPClient *http.Client
	// Network bounds each request and retries transient failures (see
	// client.Network); zero fields take client.DefaultNetwork's values.
	Network client.Network
	// Now is the clock for expiry checks and records; nil means time.Now.
	Now func() time.Time
	// Logger receives progress records; nil discards them.
	Logger *slog.Logger
	// Health, when set, runs after each switch to a new improvement; an
	// error undoes the switch (see install.Options.Health) and the
	// improvement is declined until installed by name.
	Health func(ctx context.Context, component, id, dir string) error
	// Limits bound the payload archives; zero fields mean install's
	// defaults.
	Limits install.Limits

	// step, set only by this package's tests, is called at each journal
	// step; the crash tests kill the process from it.
	step func(name string)
}

// Agent operates on one state directory, which it holds locked from Open
// to Close.
type Agent struct {
	opts      Options
	state     string
	cfg       Config
	j         *Journal
	lock      *os.File
	inst      *install.Installer
	tuf       *client.Client
	tlog      *TransparencyState
	log       *slog.Logger
	recovered []string
}

// NotStateError is a directory that holds no agent state.
type NotStateError struct {
	Dir string
	Err error
}

func (e *NotStateError) Error() string {
	return fmt.Sprintf("%s is not a bsi client state directory: %v", e.Dir, e.Err)
}

func (e *NotStateError) Unwrap() error { return e.Err }

// Open locks the state directory, reads it, and recovers from any step a
// crash interrupted (see Recovered). The error is a *NotStateError for a
// directory Init did not make, a *LockedError when another agent holds it.
func Open(ctx context.Context, opts Options) (*Agent, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	state, err := filepath.Abs(opts.State)
	if err != nil {
		return nil, err
	}
	a := &Agent{opts: opts, state: state, log: log}
	if err := readJSON(a.path(configFile), &a.cfg); err != nil {
		return nil, &NotStateError{Dir: state, Err: err}
	}
	if err := a.cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", a.path(configFile), err)
	}
	if a.lock, err = lockState(a.path(lockFile)); err != nil {
		return nil, err
	}
	if a.j, err = readJournal(a.path(journalFile)); err != nil {
		a.Close()
		return nil, err
	}
	if a.tlog, err = readTransparency(a.path(tlogFile)); err != nil {
		a.Close()
		return nil, err
	}
	a.inst, err = install.New(install.Options{Root: a.cfg.InstallRoot, Limits: opts.Limits, Logger: log, Health: opts.Health})
	if err == nil {
		err = a.recover(ctx)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Close releases the state directory.
func (a *Agent) Close() error {
	if a.lock == nil {
		return nil
	}
	err := unlockState(a.lock)
	a.lock = nil
	return err
}

// Config returns the device configuration.
func (a *Agent) Config() Config { return a.cfg }

// Recovered lists what Open did to finish or undo interrupted steps, for
// people; empty when nothing was interrupted.
func (a *Agent) Recovered() []string { return a.recovered }

// Installed lists the installed improvements in component order.
func (a *Agent) Installed() []Installed { return a.j.installedList() }

func (a *Agent) path(elem ...string) string {
	return filepath.Join(append([]string{a.state}, elem...)...)
}

func (a *Agent) hook(step string) {
	if a.opts.step != nil {
		a.opts.step(step)
	}
}

func (a *Agent) save() error { return writeJSON(a.path(journalFile), a.j) }

// client returns the TUF client, made on first use.
func (a *Agent) client() (*client.Client, error) {
	if a.tuf != nil {
		return a.tuf, nil
	}
	c, err := client.New(client.Config{
		MetadataDir: a.path(metadataDir),
		MetadataURL: a.cfg.MetadataURL,
		TargetsURL:  a.cfg.TargetsURL,
		HTTPClient:  a.opts.HTTPClient,
		Network:     a.opts.Network,
		Now:         a.trustedNow, // expiry against max(device clock, trusted floor)
		Logger:      a.log,
	})
	if err != nil {
		return nil, err
	}
	a.tuf = c
	return c, nil
}

// recover settles what a crash interrupted: the installer's own step first,
// then the journal's pending step, judged by which version is current.
func (a *Agent) recover(ctx context.Context) error {
	rec, err := a.inst.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recover install root: %w", err)
	}
	if rec.Action != install.NothingPending || len(rec.Removed) > 0 {
		a.recovered = append(a.recovered, "install root: "+rec.String())
	}
	removeTemps(a.state)
	removeTemps(a.path(cacheDir))
	// The metadata client's: a role written as it verified, before the
	// batch that would have renamed it (the agent's lock keeps any other
	// writer out).
	removeTemps(a.path(metadataDir))
	p := a.j.Pending
	if p == nil {
		return nil
	}
	res, err := a.settle(p, "after interruption")
	if err != nil {
		return err
	}
	a.recovered = append(a.recovered, fmt.Sprintf("%s of %s %s → %s: %s", p.Kind, p.Component,
		idOrBaseline(p.From), idOrBaseline(p.To), res))
	return a.save()
}

// settle ends the pending step p according to the installer's current
// version: finished when it is p.To, undone when it is p.From.
func (a *Agent) settle(p *Step, when string) (string, error) {
	cur, ok, err := a.inst.Current(p.Component)
	if err != nil {
		return "", err
	}
	var res string
	switch {
	case p.To != nil && ok && cur == p.To.ID, p.To == nil && !ok:
		a.finish(p, "finished "+when)
		return "finished " + when, nil
	case p.From != nil && ok && cur == p.From.ID, p.From == nil && !ok:
		res = "undone " + when
	case ok:
		res = fmt.Sprintf("undone %s, but %s is current, not %s or %s: inspect the install root",
			when, cur, idOrBaseline(p.From), idOrBaseline(p.To))
	default:
		res = fmt.Sprintf("undone %s, but no improvement is current, not %s: inspect the install root",
			when, idOrBaseline(p.From))
	}
	a.j.Pending = nil
	a.j.addEvent(Event{At: a.opts.Now(), Kind: p.Kind, Component: p.Component,
		From: idOf(p.From), To: idOf(p.To), Result: res})
	return res, nil
}

// finish records the step p as done, with its decline.
func (a *Agent) finish(p *Step, result string) {
	if d := p.Decline; d != nil {
		a.j.decline(p.Component, d.ID, d.Reason, d.At)
	}
	if p.To != nil {
		a.j.Installed[p.Component] = p.To
	} else {
		delete(a.j.Installed, p.Component)
	}
	a.j.Pending = nil
	a.j.addEvent(Event{At: a.opts.Now(), Kind: p.Kind, Component: p.Component,
		From: idOf(p.From), To: idOf(p.To), Result: result})
}

func idOf(in *Installed) string {
	if in == nil {
		return ""
	}
	return in.ID
}

func idOrBaseline(in *Installed) string {
	if in == nil {
		return "baseline"
	}
	return in.ID
}

// SetRelease records that the device now runs release (and build, when not
// empty): the next check retires improvements of the old release.
func (a *Agent) SetRelease(release, build string) error {
	c := a.cfg
	c.Release = release
	if build != "" {
		c.Build = build
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if err := writeJSON(a.path(configFile), &c); err != nil {
		return err
	}
	a.cfg = c
	return nil
}

// Device is the device the state describes.
func (a *Agent) Device() manifest.Device { return a.cfg.Device() }

// cachePath is where the verified payload of target path p is kept.
func (a *Agent) cachePath(p string) string {
	return a.path(cacheDir, escapeName(p))
}

// pruneCache removes cached payloads of improvements no longer installed.
func (a *Agent) pruneCache() {
	keep := map[string]bool{}
	for _, in := range a.j.Installed {
		keep[escapeName(in.Path)] = true
	}
	ents, err := os.ReadDir(a.path(cacheDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		a.log.Warn("prune cache", "err", err)
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			os.Remove(a.path(cacheDir, e.Name()))
		}
	}
}
