package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/bsiframework/bsi/manifest"
)

// manifestCommands is the "bsi manifest" group: writing and checking
// improvement manifests before they are signed into a repository.
func manifestCommands() []*command {
	return []*command{manifestNewCommand(), manifestValidateCommand()}
}

const manifestValidateHelp = `Decodes each FILE strictly (unknown fields, duplicate keys, floats, trailing
data, files over 64 KiB are errors) and checks every rule of the
bsi.improvement/v1 schema. For a valid file it prints "ok FILE" on stdout;
for an invalid one it prints every problem on stderr as

  FILE: JSON-PATH: PROBLEM

FILE "-" reads standard input. The exit status is 0 when every file is
valid and 1 otherwise.

Flags:
  --json   print a report on stdout instead:
           {"valid": false, "files": [{"file": "a.json", "valid": false,
             "problems": [{"path": "sequence", "problem": "..."}]}]}

Examples:
  bsi manifest validate webkit-26.3-a.json
  bsi manifest validate manifests/*.json
  bsi manifest new --component webkit --platform macos --release 26.3 \
      --sequence 1 | bsi manifest validate -
  bsi manifest validate --json webkit-26.3-a.json`

// validateReport is the --json output of "bsi manifest validate".
type validateReport struct {
	Valid bool                 `json:"valid"`
	Files []validateFileReport `json:"files"`
}

type validateFileReport struct {
	File     string           `json:"file"`
	Valid    bool             `json:"valid"`
	ID       string           `json:"id,omitempty"`
	Label    string           `json:"label,omitempty"`
	Problems []validateReason `json:"problems,omitempty"`
}

type validateReason struct {
	Path    string `json:"path"`
	Problem string `json:"problem"`
}

func manifestValidateCommand() *command {
	return &command{
		Name:    "manifest validate",
		Args:    "[--json] FILE...",
		Summary: "check manifest files; print ok or every problem with its JSON path",
		Help:    manifestValidateHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			fs := newFlags("manifest validate")
			asJSON := fs.Bool("json", false, "print a JSON report on stdout")
			pos, err := parseFlags(fs, args)
			if err != nil {
				return err
			}
			if err := wantArgs(pos, 1, -1, "manifest FILE"); err != nil {
				return err
			}
			report := validateReport{Valid: true}
			bad := 0
			for _, file := range pos {
				r := validateFile(e, file)
				if !r.Valid {
					bad++
					report.Valid = false
				}
				report.Files = append(report.Files, r)
				if !*asJSON {
					printValidation(e, r)
				}
			}
			if *asJSON {
				if err := writeJSONTo(e, report); err != nil {
					return err
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d manifests invalid", bad, len(pos))
			}
			return nil
		},
	}
}

func printValidation(e *env, r validateFileReport) {
	if r.Valid {
		fmt.Fprintf(e.Stdout, "ok %s\n", r.File)
		return
	}
	for _, p := range r.Problems {
		if p.Path == "" {
			fmt.Fprintf(e.Stderr, "%s: %s\n", r.File, p.Problem)
		} else {
			fmt.Fprintf(e.Stderr, "%s: %s: %s\n", r.File, p.Path, p.Problem)
		}
	}
}

// validateFile reads and checks one manifest file ("-" is stdin).
func validateFile(e *env, file string) validateFileReport {
	r := validateFileReport{File: file}
	data, err := readManifestFile(e, file)
	if err != nil {
		r.Problems = []validateReason{{Problem: err.Error()}}
		return r
	}
	m, err := manifest.Decode(data)
	var ve *manifest.ValidationError
	switch {
	case errors.As(err, &ve):
		for _, p := range ve.Problems {
			r.Problems = append(r.Problems, validateReason{Path: p.Path, Problem: p.Problem})
		}
	case err != nil:
		r.Problems = []validateReason{{Problem: err.Error()}}
	default:
		r.Valid, r.ID, r.Label = true, m.ID, m.Label("")
	}
	return r
}

// readManifestFile reads at most one byte more than a manifest may have.
func readManifestFile(e *env, file string) ([]byte, error) {
	var r io.Reader = e.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("cannot read: %v", pe.Err)
			}
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, manifest.MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %v", err)
	}
	if len(data) > manifest.MaxSize {
		return nil, fmt.Errorf("file is larger than the limit of %d bytes", manifest.MaxSize)
	}
	return data, nil
}

const manifestNewHelp = `Prints a new, valid improvement manifest (schema bsi.improvement/v1) on
stdout, to edit and then sign into a repository with "bsi repo".

Required:
  --component NAME     the component role that signs it (webkit, libxml2)
  --platform NAME      the platform of the devices (macos)
  --release R          a release it applies to; repeat for several
  --sequence N         1, 2, 3... per platform, release and component,
                       shown as (a), (b), (c)

Optional:
  --id ID              default COMPONENT-RELEASE-LETTER, e.g. webkit-26.3-a
  --title TEXT         default "COMPONENT security improvement RELEASE (a)"
  --severity S         critical, high (default), medium or low
  --build B            only these builds of the release; repeatable
  --advisory CVE       an advisory it fixes, CVE-YYYY-NNNN; repeatable
  --supersedes ID      an improvement it replaces; repeatable
  --requires-restart   the component must restart to use it
  --released TIME      RFC 3339 time (default now), written in UTC seconds
  --withdrawn REASON   write it withdrawn, with this reason

Examples:
  bsi manifest new --component webkit --platform macos --release 26.3 \
      --sequence 1 --severity high --advisory CVE-2026-20001 > webkit-26.3-a.json
  bsi manifest new --component libxml2 --platform macos --release 26.3 \
      --release 26.3.1 --build 25D125 --sequence 2 --supersedes libxml2-26.3-a \
      --requires-restart --released 2026-11-27T10:00:00Z`

// newFlagFor returns the flag of "bsi manifest new" that sets a manifest
// field, for error messages, or "".
func newFlagFor(field string) string {
	switch field {
	case "applies_to.releases":
		return "--release"
	case "applies_to.builds":
		return "--build"
	case "advisories":
		return "--advisory"
	case "withdrawn_reason":
		return "--withdrawn"
	case "id", "title", "platform", "component", "sequence", "severity", "supersedes", "released":
		return "--" + field
	}
	return ""
}

func manifestNewCommand() *command {
	return &command{
		Name:    "manifest new",
		Args:    "--component NAME --platform NAME --release R... --sequence N [flags]",
		Summary: "print a new improvement manifest to edit and sign",
		Help:    manifestNewHelp,
		Run: func(ctx context.Context, e *env, args []string) error {
			m, err := parseNewManifest(e, args)
			if err != nil {
				return err
			}
			if err := m.Validate(); err != nil {
				return newManifestError(err)
			}
			out, err := m.Encode()
			if err != nil {
				return err
			}
			_, err = e.Stdout.Write(out)
			return err
		},
	}
}

// parseNewManifest builds the manifest from the flags of "bsi manifest new",
// filling defaults; it does not validate.
func parseNewManifest(e *env, args []string) (*manifest.Manifest, error) {
	fs := newFlags("manifest new")
	var releases, builds, advisories, supersedes stringList
	component := fs.String("component", "", "")
	platform := fs.String("platform", "", "")
	fs.Var(&releases, "release", "")
	fs.Var(&builds, "build", "")
	sequence := fs.Int("sequence", 0, "")
	id := fs.String("id", "", "")
	title := fs.String("title", "", "")
	severity := fs.String("severity", string(manifest.SeverityHigh), "")
	fs.Var(&advisories, "advisory", "")
	fs.Var(&supersedes, "supersedes", "")
	restart := fs.Bool("requires-restart", false, "")
	released := fs.String("released", "", "")
	withdrawn := fs.String("withdrawn", "", "")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return nil, err
	}
	if err := wantArgs(pos, 0, 0, ""); err != nil {
		return nil, err
	}
	switch {
	case *component == "":
		return nil, usagef("missing --component")
	case *platform == "":
		return nil, usagef("missing --platform")
	case len(releases) == 0:
		return nil, usagef("missing --release")
	case *sequence == 0:
		return nil, usagef("missing --sequence")
	}
	m := &manifest.Manifest{
		Schema: manifest.Schema, ID: *id, Title: *title, Platform: *platform, Component: *component,
		AppliesTo: manifest.AppliesTo{Releases: releases, Builds: builds},
		Sequence:  *sequence, Severity: manifest.Severity(*severity),
		Advisories: advisories, Supersedes: supersedes, RequiresRestart: *restart,
		Released: manifest.FormatTime(e.Now()), Status: manifest.StatusActive,
	}
	if *released != "" {
		t, err := time.Parse(time.RFC3339, *released)
		if err != nil {
			return nil, usagef("--released %q is not an RFC 3339 time like 2026-11-27T10:00:00Z", *released)
		}
		m.Released = manifest.FormatTime(t)
	}
	if *withdrawn != "" {
		m.Status, m.WithdrawnReason = manifest.StatusWithdrawn, *withdrawn
	}
	if m.ID == "" {
		m.ID = defaultID(m.Component, releases[0], m.Sequence)
	}
	if m.Title == "" {
		m.Title = fmt.Sprintf("%s security improvement %s", m.Component, m.Label(""))
	}
	return m, nil
}

// defaultID is COMPONENT-RELEASE-LETTER ("webkit-26.3-a"), with characters
// that ids do not allow replaced by '-'.
func defaultID(component, release string, seq int) string {
	letters := strings.Trim(manifest.SequenceLabel(seq), "()")
	id := strings.ToLower(component + "-" + release + "-" + letters)
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '+' || r == '-' {
			return r
		}
		return '-'
	}, id)
}

// newManifestError turns validation problems into a usage error naming the
// flags that set the offending fields.
func newManifestError(err error) error {
	var ve *manifest.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var msgs []string
	for _, p := range ve.Problems {
		field, _, _ := strings.Cut(p.Path, "[")
		if flag := newFlagFor(field); flag != "" {
			msgs = append(msgs, fmt.Sprintf("%s (%s): %s", flag, p.Path, p.Problem))
		} else {
			msgs = append(msgs, p.Error())
		}
	}
	return usagef("invalid manifest: %s", strings.Join(msgs, "; "))
}
