package install

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bsiframework/bsi/internal/fault"
)

// Operations and states recorded in the journal.
const (
	opInstall  = "install"
	opRollback = "rollback"

	stateExtracting = "extracting" // install: the new version may be partly written; recovery undoes
	stateExtracted  = "extracted"  // install: the new version is complete and synced; recovery finishes
	stateUndoing    = "undoing"    // install: the health check failed; recovery finishes the undo
	stateSwitching  = "switching"  // rollback: recovery finishes
)

// journal is the intent record of the one operation in progress, stored
// at <Root>/.bsi/journal.json. See the package documentation.
type journal struct {
	Op               string `json:"op"`
	Component        string `json:"component"`
	ID               string `json:"id"`   // install: the new version; rollback: the target ("" = baseline)
	From             string `json:"from"` // the version current before ("" = baseline)
	Temp             string `json:"temp,omitempty"`
	CreatedComponent bool   `json:"created_component,omitempty"`
	KeepPrevious     bool   `json:"keep_previous,omitempty"`
	State            string `json:"state"`
	// Steps lists the operation's steps for a person reading the journal;
	// recovery goes by State and by what is on disk.
	Steps []string `json:"steps,omitempty"`
}

// plan fills in j.Steps.
func (j *journal) plan() {
	v := func(id string) string { return "versions/" + id }
	to := func(id string) string {
		if id == "" {
			return "remove current (baseline)"
		}
		return "switch current to " + v(id)
	}
	switch j.Op {
	case opInstall:
		j.Steps = []string{"extract and sync " + v(j.Temp), "rename " + v(j.Temp) + " to " + v(j.ID),
			to(j.ID), "health check"}
		if j.From != "" && !j.KeepPrevious {
			j.Steps = append(j.Steps, "remove "+v(j.From))
		}
		j.Steps = append(j.Steps, "remove other versions")
	case opRollback:
		j.Steps = []string{to(j.ID), "remove " + v(j.From)}
	}
}

// JournalError reports a journal file that cannot be understood. Recover
// refuses to guess: someone must look at the install root.
type JournalError struct {
	Path string
	Err  error
}

func (e *JournalError) Error() string { return fmt.Sprintf("journal %s: %v", e.Path, e.Err) }
func (e *JournalError) Unwrap() error { return e.Err }

func (in *Installer) journalPath() string { return filepath.Join(in.stateDir(), "journal.json") }

// writeJournal atomically records j.
func (in *Installer) writeJournal(j *journal) error {
	j.plan()
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	return in.writeAtomic(in.journalPath(), append(data, '\n'))
}

// readJournal returns the pending journal, or nil when there is none.
func (in *Installer) readJournal() (*journal, error) {
	data, err := os.ReadFile(in.journalPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j journal
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, &JournalError{Path: in.journalPath(), Err: err}
	}
	if err := j.validate(); err != nil {
		return nil, &JournalError{Path: in.journalPath(), Err: err}
	}
	return &j, nil
}

// validate checks that the record names only what an operation can have
// written, so that a damaged journal cannot direct removals elsewhere.
func (j *journal) validate() error {
	if !validName(j.Component) {
		return fmt.Errorf("invalid component %q", j.Component)
	}
	if j.From != "" && !validName(j.From) {
		return fmt.Errorf("invalid from %q", j.From)
	}
	switch {
	case j.Op == opInstall && (j.State == stateExtracting || j.State == stateExtracted || j.State == stateUndoing):
		if !validName(j.ID) || j.ID == j.From {
			return fmt.Errorf("invalid id %q", j.ID)
		}
		rest, ok := strings.CutPrefix(j.Temp, tempVersionPrefix+j.ID+"-")
		if !ok || rest == "" || strings.ContainsAny(rest, "/\\") || strings.Contains(rest, "..") {
			return fmt.Errorf("invalid temp %q", j.Temp)
		}
	case j.Op == opRollback && j.State == stateSwitching:
		if j.ID != "" && !validName(j.ID) {
			return fmt.Errorf("invalid id %q", j.ID)
		}
		if j.From == "" {
			return errors.New("rollback without a from version")
		}
	default:
		return fmt.Errorf("unknown operation %q in state %q", j.Op, j.State)
	}
	return nil
}

// removeJournal ends the operation: after it, nothing is pending.
func (in *Installer) removeJournal() error {
	in.step("remove journal")
	if err := fault.CheckPath("install.journal.remove", in.journalPath()); err != nil {
		return err
	}
	if err := os.Remove(in.journalPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	fault.Point("install.journal.remove.done")
	in.step("sync state dir")
	return syncDir(in.stateDir())
}
