package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

var (
	// ErrBusy is returned when another Installer (in this or another
	// process) kept the install root locked until the context was done.
	ErrBusy = errors.New("install root is in use by another operation")

	// ErrRecoveryNeeded is returned by Install, Rollback and Remove when
	// the journal records an interrupted operation: call Recover first.
	ErrRecoveryNeeded = errors.New("an interrupted operation is pending: run Recover first")
)

// HealthError reports a failed health check after Install switched to a new
// version. The switch has been undone (current points at From again, or is
// absent when From is "") and the new version removed.
type HealthError struct {
	Component string
	ID        string // the version that failed its health check
	From      string // the version restored ("" = baseline)
	Err       error  // what Options.Health returned
}

func (e *HealthError) Error() string {
	restored := "baseline"
	if e.From != "" {
		restored = e.From
	}
	return fmt.Sprintf("health check of %s %s failed (switched back to %s): %v", e.Component, e.ID, restored, e.Err)
}

func (e *HealthError) Unwrap() error { return e.Err }

// NotInstalledError reports a version asked for by Rollback or Remove that
// is not in the component's versions directory.
type NotInstalledError struct {
	Component string
	ID        string
}

func (e *NotInstalledError) Error() string {
	return fmt.Sprintf("%s: version %s is not installed", e.Component, e.ID)
}

// Options configures an Installer. Only Root is required.
type Options struct {
	// Root is the install root: <Root>/<component>/versions/<id>/ and
	// <Root>/<component>/current -> versions/<id>; the journal and lock live
	// in <Root>/.bsi/. It is created when first needed.
	Root string

	// Limits bound every archive Install accepts; zero fields mean defaults.
	Limits Limits

	// Logger receives a record for each phase of an operation (extracted,
	// installed, health check failed, rolled back, recovered); nil discards
	// them.
	Logger *slog.Logger

	// Health, when set, runs after Install switched current to a new
	// version (dir is that version's directory). An error undoes the switch
	// and removes the new version; Install then returns a *HealthError.
	// Rollback does not run it: rolling back only ever returns to a state
	// that was installed before, and undoing it would reinstate a version
	// that was withdrawn or unwanted.
	Health func(ctx context.Context, component, id, dir string) error

	// KeepPrevious keeps the version that Install replaces, so that
	// Rollback can return to it without a download. Either way, after
	// Install versions/ holds nothing but the new version and, with
	// KeepPrevious, the one it replaced.
	KeepPrevious bool

	// stepHook, set only by this package's tests, is called before every
	// durable change (write, fsync, rename, removal) with its description.
	// The crash tests kill the process from it.
	stepHook func(step string)
}

// Installer applies verified payloads under one install root. Its methods
// may be called from several goroutines and processes: operations that
// change the root take an exclusive lock on it (.bsi/lock), waiting for
// another operation to finish until their context is done (ErrBusy);
// Current, Versions and Components read without locking.
type Installer struct {
	opts Options
	log  *slog.Logger
}

// New returns an Installer for opts.Root. It touches nothing on disk.
func New(opts Options) (*Installer, error) {
	if opts.Root == "" {
		return nil, errors.New("install: Options.Root is empty")
	}
	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("install: root %s: %w", opts.Root, err)
	}
	opts.Root = root
	if opts.Limits.MaxEntries < 0 || opts.Limits.MaxFileSize < 0 || opts.Limits.MaxTotalSize < 0 {
		return nil, fmt.Errorf("install: negative limit in %+v", opts.Limits)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Installer{opts: opts, log: log}, nil
}

// WithLimits returns a copy of in that accepts archives within lim, for
// example lowered to a manifest's expected size. Both share the lock.
func (in *Installer) WithLimits(lim Limits) *Installer {
	c := *in
	c.opts.Limits = lim
	return &c
}

// Root returns the absolute install root.
func (in *Installer) Root() string { return in.opts.Root }

func (in *Installer) stateDir() string { return filepath.Join(in.opts.Root, ".bsi") }
func (in *Installer) componentDir(component string) string {
	return filepath.Join(in.opts.Root, component)
}
func (in *Installer) versionsDir(component string) string {
	return filepath.Join(in.opts.Root, component, "versions")
}

// VersionDir returns the directory that holds (or would hold) a version.
func (in *Installer) VersionDir(component, id string) string {
	return filepath.Join(in.versionsDir(component), id)
}

func (in *Installer) step(s string) {
	if in.opts.stepHook != nil {
		in.opts.stepHook(s)
	}
}

// lockPoll is how often a busy lock is tried again.
const lockPoll = 10 * time.Millisecond

// lock creates the root and its state directory if needed and takes the
// root's lock, waiting while another operation holds it until ctx is done
// (then the error wraps ErrBusy). The returned function releases it.
func (in *Installer) lock(ctx context.Context) (unlock func(), err error) {
	if err := os.MkdirAll(in.stateDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(in.stateDir(), "lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for {
		err := tryLock(f)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, ErrBusy) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("%w: %w", ErrBusy, context.Cause(ctx))
		case <-time.After(lockPoll):
		}
	}
}

// lockIdle takes the lock and checks that no interrupted operation waits.
func (in *Installer) lockIdle(ctx context.Context) (unlock func(), err error) {
	unlock, err = in.lock(ctx)
	if err != nil {
		return nil, err
	}
	j, err := in.readJournal()
	if err == nil && j != nil {
		err = fmt.Errorf("%w (%s of %s %s)", ErrRecoveryNeeded, j.Op, j.Component, j.ID)
	}
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// Current returns the version that <component>/current points at; ok is
// false when there is no current link (the platform's baseline is in use).
func (in *Installer) Current(component string) (id string, ok bool, err error) {
	if err := checkComponent(component); err != nil {
		return "", false, err
	}
	link := filepath.Join(in.componentDir(component), "current")
	target, err := os.Readlink(link)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	id, found := strings.CutPrefix(target, "versions/")
	if !found || !validName(id) {
		return "", false, fmt.Errorf("%s: points at %q, not versions/<id>", link, target)
	}
	return id, true, nil
}

// Versions lists the installed versions of component, sorted; temporary
// directories of an operation in progress are not listed.
func (in *Installer) Versions(component string) ([]string, error) {
	if err := checkComponent(component); err != nil {
		return nil, err
	}
	return listNames(in.versionsDir(component), true)
}

// Components lists the components that have a directory under the root.
func (in *Installer) Components() ([]string, error) {
	return listNames(in.opts.Root, true)
}

// listNames returns the sorted valid names of the directories in dir.
func listNames(dir string, dirsOnly bool) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if validName(e.Name()) && (!dirsOnly || e.IsDir()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// Remove deletes an installed version that is not current (one kept by
// KeepPrevious). It is not journaled: the directory is renamed to a
// temporary name first, so a crash leaves it whole or gone, and Recover
// deletes the remains.
func (in *Installer) Remove(ctx context.Context, component, id string) error {
	if err := errors.Join(checkComponent(component), checkID(id)); err != nil {
		return err
	}
	unlock, err := in.lockIdle(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if cur, ok, err := in.Current(component); err != nil {
		return err
	} else if ok && cur == id {
		return fmt.Errorf("remove %s %s: it is the current version; use Rollback", component, id)
	}
	if ok, err := exists(in.VersionDir(component, id)); err != nil {
		return err
	} else if !ok {
		return &NotInstalledError{Component: component, ID: id}
	}
	if err := in.removeVersion(component, id); err != nil {
		return fmt.Errorf("remove %s %s: %w", component, id, err)
	}
	in.log.InfoContext(ctx, "removed", "component", component, "id", id)
	return nil
}
