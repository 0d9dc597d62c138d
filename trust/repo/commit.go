package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/bsiframework/bsi/internal/atomicfile"
	"github.com/bsiframework/bsi/internal/fault"
)

// A workspace operation changes several files: content, role files, an
// old root kept for the chain, workspace.json. commit makes them change
// together, so that a crash at any point leaves the workspace as it was
// before the operation or as it is after it:
//
//  1. every new file is written, complete, into DIR/.commit/ and all are
//     made durable at once (one barrier);
//  2. DIR/.commit/journal.json, listing each staged file's final name and
//     the role files to remove, is written durably: the commit point;
//  3. replay renames each staged file into place, removes what the journal
//     lists, syncs the directories, and removes the journal and
//     DIR/.commit.
//
// Open runs replay before it reads anything: after a crash before step 2
// it only removes DIR/.commit (the temporary files of the interrupted
// operation with it), after step 2 it finishes the renames. Renames are
// idempotent (a staged file already moved is absent), so replay can itself
// be interrupted and run again.

const (
	commitDir   = ".commit"
	journalName = "journal.json"
)

type commitJournal struct {
	// Moves are staged files (relative to DIR/.commit) and their final
	// names (relative to DIR), workspace.json last.
	Moves []commitMove `json:"moves"`
	// Remove lists files (relative to DIR) to remove.
	Remove []string `json:"remove,omitempty"`
}

type commitMove struct {
	Staged string `json:"staged"`
	To     string `json:"to"`
}

// commit writes the changes of the operation that just ran (steps 1 to 3
// above) and clears them.
func (w *Workspace) commit() error {
	stage := w.path(commitDir)
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	if err := os.Mkdir(stage, 0o755); err != nil {
		return err
	}
	var b barrier
	var j commitJournal
	stagePath := func(to string) string {
		name := strconv.Itoa(len(j.Moves))
		j.Moves = append(j.Moves, commitMove{Staged: name, To: filepath.ToSlash(to)})
		return filepath.Join(stage, name)
	}
	for sum, src := range w.newContent {
		// Present from an earlier operation; a crash before that one's
		// barrier can leave a short file, which is written again.
		if sameSize(w.path("content", sum), src) {
			continue
		}
		if err := copyFileBarrier(stagePath(filepath.Join("content", sum)), src, 0o644, &b); err != nil {
			return fmt.Errorf("content store: %w", err)
		}
	}
	if w.prevRoot != nil {
		to := filepath.Join("metadata", "roots", fmt.Sprintf("%d.root.json", w.prevRootVer))
		if err := writeFileBarrier(stagePath(to), w.prevRoot, 0o644, &b); err != nil {
			return err
		}
	}
	for _, role := range sortedKeys(w.dirty) {
		data, err := w.roleBytes(role)
		if err != nil {
			return err
		}
		if err := writeFileBarrier(stagePath(filepath.Join("metadata", role+".json")), data, 0o644, &b); err != nil {
			return err
		}
		w.stats.written++
	}
	for _, role := range sortedKeys(w.removed) {
		j.Remove = append(j.Remove, "metadata/"+role+".json")
		delete(w.cfg.Expiries, role)
		delete(w.cfg.Unpublished, role)
	}
	for role := range w.dirty {
		if m, ok := w.targets[role]; ok {
			w.cfg.Expiries[role] = m.Signed.Expires
		}
	}
	cfg, err := w.configBytes()
	if err != nil {
		return err
	}
	if err := writeFileBarrier(stagePath("workspace.json"), cfg, 0o644, &b); err != nil {
		return err
	}
	if err := b.sync(); err != nil {
		return err
	}
	data, err := json.Marshal(&j)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(stage, journalName), data, 0o644); err != nil {
		return err
	}
	w.dirty, w.removed, w.newContent = map[string]bool{}, map[string]bool{}, map[string]string{}
	w.prevRoot = nil
	return w.replay()
}

// replay finishes a commit whose journal is durable, or drops one that
// never reached its journal (step 3 above).
func (w *Workspace) replay() error {
	stage := w.path(commitDir)
	data, err := os.ReadFile(filepath.Join(stage, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return os.RemoveAll(stage) // nothing committed: drop what was staged
	}
	if err != nil {
		return fmt.Errorf("workspace commit journal: %w", err)
	}
	var j commitJournal
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("workspace commit journal %s: %w", filepath.Join(stage, journalName), err)
	}
	var b barrier
	for _, m := range j.Moves {
		if !filepath.IsLocal(m.Staged) || !filepath.IsLocal(m.To) {
			return fmt.Errorf("workspace commit journal %s: bad entry %q -> %q", filepath.Join(stage, journalName), m.Staged, m.To)
		}
		to := w.path(filepath.FromSlash(m.To))
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := fault.CheckPath("repo.commit.rename", to); err != nil {
			return err
		}
		err := os.Rename(filepath.Join(stage, m.Staged), to)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("workspace commit: %w", err)
		}
		b.dirs = addDir(b.dirs, filepath.Dir(to))
	}
	for _, rel := range j.Remove {
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("workspace commit journal %s: bad entry %q", filepath.Join(stage, journalName), rel)
		}
		p := w.path(filepath.FromSlash(rel))
		if err := fault.CheckPath("repo.remove", p); err != nil {
			return err
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("workspace commit: %w", err)
		}
		b.dirs = addDir(b.dirs, filepath.Dir(p))
	}
	if err := syncAll(sortedKeys(b.dirs)); err != nil {
		return err
	}
	if err := os.RemoveAll(stage); err != nil {
		return err
	}
	return atomicfile.SyncDir(w.dir)
}

func addDir(dirs map[string]bool, dir string) map[string]bool {
	if dirs == nil {
		dirs = map[string]bool{}
	}
	dirs[dir] = true
	return dirs
}
