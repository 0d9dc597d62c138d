package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Action says what Recover did with an interrupted operation.
type Action string

const (
	NothingPending Action = "nothing pending"
	RolledForward  Action = "rolled forward" // the operation was finished: the new state
	RolledBack     Action = "rolled back"    // the operation was undone: the old state
)

// Recovered reports what Recover did.
type Recovered struct {
	Action    Action
	Op        string // "install" or "rollback"; "" when nothing was pending
	Component string
	ID        string // install: the new version; rollback: the target ("" = baseline)
	From      string // the version current before the operation ("" = baseline)
	// Cause is set when a roll-forward ended rolled back: the *HealthError
	// of the health check that Recover ran after finishing the switch.
	Cause error
	// Removed lists leftover temporary paths that were deleted, relative
	// to the root.
	Removed []string
}

func (r Recovered) String() string {
	var b strings.Builder
	b.WriteString(string(r.Action))
	if r.Op != "" {
		fmt.Fprintf(&b, ": %s of %s %s", r.Op, r.Component, orBaseline(r.ID))
		fmt.Fprintf(&b, " (from %s)", orBaseline(r.From))
	}
	if r.Cause != nil {
		fmt.Fprintf(&b, " because %v", r.Cause)
	}
	if len(r.Removed) > 0 {
		fmt.Fprintf(&b, "; removed %s", strings.Join(r.Removed, ", "))
	}
	return b.String()
}

func orBaseline(id string) string {
	if id == "" {
		return "baseline"
	}
	return id
}

// Recover finishes or undoes the operation that the journal records as
// interrupted, then deletes any temporary file, link or directory left
// under the root. Call it at start-up before anything else; it is safe to
// call when nothing is pending. An install is finished when its new
// version was completely extracted and synced, and undone otherwise;
// finishing it runs Options.Health, whose failure undoes it after all
// (reported in Recovered.Cause, not as an error). A rollback is always
// finished. A journal that cannot be read is a *JournalError: nothing is
// changed then.
func (in *Installer) Recover(ctx context.Context) (Recovered, error) {
	unlock, err := in.lock(ctx)
	if err != nil {
		return Recovered{}, err
	}
	defer unlock()
	rec := Recovered{Action: NothingPending}
	j, err := in.readJournal()
	if err != nil {
		return rec, err
	}
	if j != nil {
		rec = Recovered{Op: j.Op, Component: j.Component, ID: j.ID, From: j.From}
		if rec.Action, rec.Cause, err = in.resume(ctx, j); err != nil {
			return rec, fmt.Errorf("recover %s of %s: %w", j.Op, j.Component, err)
		}
		in.log.InfoContext(ctx, "recovered", "op", j.Op, "component", j.Component, "id", j.ID, "action", string(rec.Action))
	}
	rec.Removed, err = in.sweep()
	return rec, err
}

// resume completes the journaled operation in the direction its state
// allows.
func (in *Installer) resume(ctx context.Context, j *journal) (Action, error, error) {
	switch {
	case j.Op == opRollback:
		return RolledForward, nil, in.finishRollback(ctx, j)
	case j.State == stateExtracted:
		err := in.finishInstall(ctx, j)
		if herr, ok := err.(*HealthError); ok {
			return RolledBack, herr, nil // the undo is complete
		}
		return RolledForward, nil, err
	default: // extracting, undoing
		return RolledBack, nil, in.undoInstall(j)
	}
}

// sweep deletes temporary entries (see isTempName) from the state
// directory, every component directory and every versions directory.
func (in *Installer) sweep() ([]string, error) {
	var removed []string
	var errs []error
	clean := func(dir, kind string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return
		}
		n := len(removed)
		for _, e := range entries {
			if !isTempName(kind, e.Name()) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, err)
				continue
			}
			rel, _ := filepath.Rel(in.opts.Root, p)
			removed = append(removed, filepath.ToSlash(rel))
		}
		if len(removed) > n {
			errs = append(errs, syncDir(dir))
		}
	}
	clean(in.stateDir(), "state")
	components, err := in.Components()
	if err != nil {
		return nil, err
	}
	for _, c := range components {
		clean(in.componentDir(c), "component")
		clean(in.versionsDir(c), "versions")
	}
	return removed, errors.Join(errs...)
}

// Pending reports whether the journal records an operation that Recover
// will finish or undo: one interrupted by a crash, or one whose own undo
// or clean-up failed (a disk that was full, read-only or failing). It reads
// without locking.
func (in *Installer) Pending() (bool, error) {
	j, err := in.readJournal()
	return j != nil, err
}
