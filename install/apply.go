package install

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bsiframework/bsi/internal/fault"
)

// Install applies the payload at payloadPath (a tar or tar.gz whose hashes
// the caller has verified) as version id of component:
//
//  1. the archive is validated completely (ValidateArchive); an
//     *ArchiveError means nothing was written;
//  2. the journal records the intent;
//  3. the archive is extracted into versions/.tmp-<id>-<rand>, every file
//     and directory fsynced, and the journal records that it is complete;
//  4. the temporary directory is renamed to versions/<id>;
//  5. current is switched atomically (new link, rename over the old);
//  6. Options.Health runs; if it fails, steps 5 and 4 are undone and a
//     *HealthError returned;
//  7. the replaced version is removed unless Options.KeepPrevious, and
//     other old versions are removed in any case;
//  8. the journal is removed.
//
// A crash before step 3 completes is undone by Recover; after it, Recover
// finishes. An error before step 5 is undone before Install returns it; an
// error after it leaves the journal for Recover (see the package
// documentation, Errors). Installing the version that is already current does nothing.
func (in *Installer) Install(ctx context.Context, component, id, payloadPath string) error {
	if err := errors.Join(checkComponent(component), checkID(id)); err != nil {
		return err
	}
	unlock, err := in.lockIdle(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	from, _, err := in.Current(component)
	if err != nil {
		return err
	}
	if from == id {
		in.log.InfoContext(ctx, "already current", "component", component, "id", id)
		return nil
	}
	f, err := os.Open(payloadPath)
	if err != nil {
		return fmt.Errorf("install %s %s: %w", component, id, err)
	}
	defer f.Close()
	entries, err := ValidateArchive(f, in.opts.Limits)
	if err != nil {
		return fmt.Errorf("install %s %s: %s: %w", component, id, payloadPath, err)
	}
	created, err := exists(in.componentDir(component))
	if err != nil {
		return err
	}
	j := &journal{
		Op: opInstall, Component: component, ID: id, From: from,
		Temp:             tempVersionPrefix + id + "-" + randSuffix(),
		CreatedComponent: !created,
		KeepPrevious:     in.opts.KeepPrevious,
		State:            stateExtracting,
	}
	if err := in.writeJournal(j); err != nil {
		// The journal may be in place all the same (its directory's sync
		// failed): undo, which removes it.
		return in.failInstall(j, fmt.Errorf("install %s %s: %w", component, id, err))
	}
	if err := in.extractTemp(ctx, j, f, entries); err != nil {
		return in.failInstall(j, fmt.Errorf("install %s %s: %w", component, id, err))
	}
	j.State = stateExtracted
	if err := in.writeJournal(j); err != nil {
		// On disk the journal says extracting or (when only the sync
		// failed) extracted: either way nothing is switched yet, and
		// failInstall records the undo before it starts.
		return in.failInstall(j, fmt.Errorf("install %s %s: %w", component, id, err))
	}
	in.log.InfoContext(ctx, "extracted", "component", component, "id", id, "entries", len(entries))
	err = in.finishInstall(ctx, j)
	if _, health := err.(*HealthError); err == nil || health {
		return err
	}
	if cur, ok, cerr := in.Current(component); cerr != nil || ok && cur == id {
		// Switched: only clean-up steps failed. The journal stays, and
		// Recover finishes them.
		return err
	}
	return in.failInstall(j, err)
}

// failInstall undoes an Install that failed with err before its switch:
// the temporary and the new version directories are removed and the
// journal with them. When undoing fails too (the disk is still full,
// read-only or failing), the journal stays and Recover, at the next start,
// finishes the undo or the install; the error then says so.
func (in *Installer) failInstall(j *journal, err error) error {
	if j.State != stateExtracting {
		// Past "extracted" Recover would finish the install: record the
		// undo first, so that a crash in it is undone, not finished
		// from a partly removed directory.
		j.State = stateUndoing
		if werr := in.writeJournal(j); werr != nil {
			return errors.Join(err, fmt.Errorf("undo: %w (the journal stays for Recover)", werr))
		}
	}
	if uerr := in.undoInstall(j); uerr != nil {
		return errors.Join(err, fmt.Errorf("undo: %w (the journal stays for Recover)", uerr))
	}
	in.log.Info("install undone", "component", j.Component, "id", j.ID, "err", err)
	return err
}

// extractTemp creates the component's directories and extracts f into the
// journal's temporary directory, synced.
func (in *Installer) extractTemp(ctx context.Context, j *journal, f *os.File, entries []Entry) error {
	vdir := in.versionsDir(j.Component)
	for _, d := range []string{in.opts.Root, in.componentDir(j.Component), vdir} {
		if err := in.mkdirSynced(d); err != nil {
			return err
		}
	}
	tmp := filepath.Join(vdir, j.Temp)
	if err := in.mkdirSynced(tmp); err != nil {
		return err
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	return extract(ctx, f, tmp, entries, in.opts.Limits, in.step)
}

// finishInstall performs steps 4 to 8 of Install. Every step checks what is
// already done, so Recover can run it again after a crash at any point.
func (in *Installer) finishInstall(ctx context.Context, j *journal) error {
	if err := in.placeVersion(j); err != nil {
		return fmt.Errorf("install %s %s: %w", j.Component, j.ID, err)
	}
	if err := in.switchCurrent(j.Component, j.ID); err != nil {
		return fmt.Errorf("install %s %s: switch current: %w", j.Component, j.ID, err)
	}
	if in.opts.Health != nil {
		if err := in.opts.Health(ctx, j.Component, j.ID, in.VersionDir(j.Component, j.ID)); err != nil {
			in.log.WarnContext(ctx, "health check failed", "component", j.Component, "id", j.ID, "err", err)
			herr := &HealthError{Component: j.Component, ID: j.ID, From: j.From, Err: err}
			j.State = stateUndoing
			err := in.writeJournal(j)
			if err == nil {
				err = in.undoInstall(j)
			}
			if err != nil {
				return errors.Join(herr, fmt.Errorf("undo: %w", err))
			}
			return herr
		}
	}
	versions, err := in.Versions(j.Component)
	if err != nil {
		return err
	}
	for _, v := range versions {
		if v == j.ID || (j.KeepPrevious && v == j.From) {
			continue
		}
		if err := in.removeVersion(j.Component, v); err != nil {
			return fmt.Errorf("install %s %s: remove %s: %w", j.Component, j.ID, v, err)
		}
	}
	if err := in.removeJournal(); err != nil {
		return err
	}
	in.log.InfoContext(ctx, "installed", "component", j.Component, "id", j.ID, "from", j.From)
	return nil
}

// placeVersion renames the complete temporary directory to versions/<id>,
// replacing a stale non-current copy of the same id.
func (in *Installer) placeVersion(j *journal) error {
	vdir := in.versionsDir(j.Component)
	tmp := filepath.Join(vdir, j.Temp)
	if ok, err := exists(tmp); err != nil {
		return err
	} else if !ok {
		// Already renamed by an earlier run, or the state is damaged.
		if ok, err := exists(in.VersionDir(j.Component, j.ID)); err != nil || ok {
			return err
		}
		return fmt.Errorf("neither %s nor versions/%s exists", j.Temp, j.ID)
	}
	if err := in.removeVersion(j.Component, j.ID); err != nil {
		return err
	}
	in.step("rename temp to " + j.ID)
	if err := fault.CheckPath("install.version.place", in.VersionDir(j.Component, j.ID)); err != nil {
		return err
	}
	if err := os.Rename(tmp, in.VersionDir(j.Component, j.ID)); err != nil {
		return err
	}
	fault.Point("install.version.place.done")
	in.step("sync " + vdir)
	return syncDir(vdir)
}

// undoInstall returns to the state before Install: current back to From,
// the temporary directory removed and, once the new version was placed
// (state undoing), versions/<id> removed. Directories that Install created
// are removed when empty. Like finishInstall it can run again after a crash.
func (in *Installer) undoInstall(j *journal) error {
	if j.State != stateExtracting {
		if err := in.switchCurrent(j.Component, j.From); err != nil {
			return err
		}
		if err := in.removeVersion(j.Component, j.ID); err != nil {
			return err
		}
	}
	tmp := filepath.Join(in.versionsDir(j.Component), j.Temp)
	if ok, err := exists(tmp); err != nil {
		return err
	} else if ok {
		in.step("remove " + j.Temp)
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		fault.Point("install.temp.remove.done")
	}
	if j.CreatedComponent {
		if err := errors.Join(in.removeIfEmpty(in.versionsDir(j.Component)),
			in.removeIfEmpty(in.componentDir(j.Component))); err != nil {
			return err
		}
	}
	return in.removeJournal()
}

// Rollback switches component's current link to version to, or removes it
// when to is "" (back to the baseline: the platform's own copy of the
// component), then removes the version that was current. to must be
// installed (kept by Options.KeepPrevious), else a *NotInstalledError is
// returned. Rolling back to what is already current does nothing. It is
// journaled: after a crash, Recover finishes it.
func (in *Installer) Rollback(ctx context.Context, component, to string) error {
	if err := checkComponent(component); err != nil {
		return err
	}
	if to != "" {
		if err := checkID(to); err != nil {
			return err
		}
	}
	unlock, err := in.lockIdle(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	from, ok, err := in.Current(component)
	if err != nil {
		return err
	}
	if !ok && to == "" || ok && to == from {
		in.log.InfoContext(ctx, "rollback: already current", "component", component, "to", to)
		return nil
	}
	if to != "" {
		if fi, err := os.Stat(in.VersionDir(component, to)); err != nil || !fi.IsDir() {
			return &NotInstalledError{Component: component, ID: to}
		}
	}
	if !ok {
		// No current version: nothing to remove, only a link to make.
		return in.switchCurrent(component, to)
	}
	j := &journal{Op: opRollback, Component: component, ID: to, From: from, State: stateSwitching}
	if err = in.writeJournal(j); err != nil {
		err = fmt.Errorf("rollback %s: %w", component, err)
	} else {
		err = in.finishRollback(ctx, j)
	}
	if err == nil {
		return nil
	}
	if cur, ok, cerr := in.Current(component); cerr != nil || !ok || cur != from {
		// Switched: only clean-up steps failed. The journal stays, and
		// Recover finishes them.
		return err
	}
	// Nothing switched: drop the intent (it may be on disk even when its
	// write failed). When that fails too, Recover finishes the rollback.
	if rerr := in.removeJournal(); rerr != nil {
		return errors.Join(err, fmt.Errorf("rollback %s: %w (the journal stays for Recover)", component, rerr))
	}
	return err
}

// finishRollback switches current and removes the old version; it can run
// again after a crash.
func (in *Installer) finishRollback(ctx context.Context, j *journal) error {
	if err := in.switchCurrent(j.Component, j.ID); err != nil {
		return fmt.Errorf("rollback %s: switch current: %w", j.Component, err)
	}
	if err := in.removeVersion(j.Component, j.From); err != nil {
		return fmt.Errorf("rollback %s: remove %s: %w", j.Component, j.From, err)
	}
	if err := in.removeJournal(); err != nil {
		return err
	}
	in.log.InfoContext(ctx, "rolled back", "component", j.Component, "from", j.From, "to", j.ID)
	return nil
}
