package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

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
	written := map[string][]byte{}
	for _, role := range sortedKeys(w.dirty) {
		data, err := w.roleBytes(role)
		if err != nil {
			return err
		}
		if err := writeFileBarrier(stagePath(filepath.Join("metadata", role+".json")), data, 0o644, &b); err != nil {
			return err
		}
		w.stats.written++
		written[role] = data
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
	if err := w.replay(); err != nil {
		return err
	}
	// What the role files now hold (mutate reloads everything on error).
	maps.Copy(w.raw, written)
	for _, role := range j.Remove {
		delete(w.raw, strings.TrimSuffix(path.Base(role), ".json"))
	}
	return nil
}

// replay finishes a commit whose journal is durable, or drops one that
// never reached its journal (step 3 above).
//
// The journal is data someone with write access to DIR could have
// planted, so replay trusts none of it: every entry must name one of
// bsi's own files (journalEntryOK), and every rename and removal goes
// through an os.Root on DIR with no symbolic link on the way (safeParent),
// so that nothing outside DIR is ever written or removed. An entry that
// fails either check refuses the whole journal with an *UnsafeFileError
// naming it, before anything is moved.
func (w *Workspace) replay() error {
	stage := w.path(commitDir)
	jpath := filepath.Join(stage, journalName)
	root, err := os.OpenRoot(w.dir)
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	defer root.Close()
	fi, err := root.Lstat(commitDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("workspace commit: %w", err)
	}
	if !fi.IsDir() {
		// A symbolic link or a file: removing the name touches nothing
		// it points at.
		return root.Remove(commitDir)
	}
	data, err := root.ReadFile(commitDir + "/" + journalName)
	if errors.Is(err, fs.ErrNotExist) {
		return root.RemoveAll(commitDir) // nothing committed: drop what was staged
	}
	if err != nil {
		return fmt.Errorf("workspace commit journal: %w", err)
	}
	var j commitJournal
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("workspace commit journal %s: %w", jpath, err)
	}
	if err := j.check(root, jpath); err != nil {
		return err
	}
	var b barrier
	for _, m := range j.Moves {
		to := w.path(filepath.FromSlash(m.To))
		if err := root.MkdirAll(path.Dir(m.To), 0o755); err != nil {
			return err
		}
		if err := safeParent(root, m.To); err != nil {
			return &UnsafeFileError{Path: jpath, Reason: fmt.Sprintf("entry %q: %v", m.To, err)}
		}
		if err := fault.CheckPath("repo.commit.rename", to); err != nil {
			return err
		}
		err := root.Rename(commitDir+"/"+m.Staged, m.To)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("workspace commit: %w", err)
		}
		b.dirs = addDir(b.dirs, filepath.Dir(to))
	}
	for _, rel := range j.Remove {
		p := w.path(filepath.FromSlash(rel))
		if err := fault.CheckPath("repo.remove", p); err != nil {
			return err
		}
		if err := root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("workspace commit: %w", err)
		}
		b.dirs = addDir(b.dirs, filepath.Dir(p))
	}
	if err := syncAll(sortedKeys(b.dirs)); err != nil {
		return err
	}
	if err := root.RemoveAll(commitDir); err != nil {
		return err
	}
	return atomicfile.SyncDir(w.dir)
}

// Names a journal may hold: a staged file is a decimal number; a final
// name is one of bsi's own workspace files.
var (
	stagedName  = regexp.MustCompile(`^[0-9]{1,9}$`)
	journalTo   = regexp.MustCompile(`^(workspace\.json|metadata/` + roleFile + `|metadata/roots/[1-9][0-9]{0,18}\.root\.json|content/[0-9a-f]{64})$`)
	journalGone = regexp.MustCompile(`^metadata/` + roleFile + `$`)
)

// roleFile is the file name of a role: a top-level role, a component, or a
// component's hash bin ("webkit.bin-3f").
const roleFile = `[a-z][a-z0-9-]{0,31}(\.bin-[0-9a-f]{1,16})?\.json`

// check refuses a journal with an entry that is not one of bsi's own files
// or whose directories are not plain directories of the workspace.
func (j *commitJournal) check(root *os.Root, jpath string) error {
	for _, m := range j.Moves {
		if !stagedName.MatchString(m.Staged) || !journalTo.MatchString(m.To) {
			return &UnsafeFileError{Path: jpath, Reason: fmt.Sprintf("bad entry %q -> %q: not a file bsi writes in a workspace", m.Staged, m.To)}
		}
		if fi, err := root.Lstat(commitDir + "/" + m.Staged); err == nil && !fi.Mode().IsRegular() {
			return &UnsafeFileError{Path: jpath, Reason: fmt.Sprintf("bad entry %q: the staged file is not a regular file (%v)", m.Staged, fi.Mode().Type())}
		}
		if err := safeParent(root, m.To); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &UnsafeFileError{Path: jpath, Reason: fmt.Sprintf("bad entry %q: %v", m.To, err)}
		}
	}
	for _, rel := range j.Remove {
		if !journalGone.MatchString(rel) || protectedRole(rel) {
			return &UnsafeFileError{Path: jpath, Reason: fmt.Sprintf("bad entry %q: not a file bsi removes from a workspace", rel)}
		}
		if err := safeParent(root, rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return &UnsafeFileError{Path: jpath, Reason: fmt.Sprintf("bad entry %q: %v", rel, err)}
		}
	}
	return nil
}

// protectedRole reports whether rel is the file of a top-level role, which
// no commit removes.
func protectedRole(rel string) bool {
	switch strings.TrimSuffix(path.Base(rel), ".json") {
	case "root", "targets", "snapshot", "timestamp":
		return true
	}
	return false
}

// safeParent checks that every directory above rel (slash-separated,
// relative to root) is a directory, not a symbolic link.
func safeParent(root *os.Root, rel string) error {
	dir := path.Dir(rel)
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := root.Lstat(p)
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory (%v)", p, fi.Mode().Type())
		}
	}
	return nil
}

func addDir(dirs map[string]bool, dir string) map[string]bool {
	if dirs == nil {
		dirs = map[string]bool{}
	}
	dirs[dir] = true
	return dirs
}
