package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/manifest"
)

// hostileNow is the reference time of every hostile-input entry: the
// repositories are signed at it and the commands run at it.
var hostileNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fixture names the trusted state an entry attacks.
type fixture int

const (
	// fxNone: a scratch directory only ($DIR).
	fxNone fixture = iota
	// fxDevice: a repository published by the real publisher (component
	// webkit, webkit-26.3-a installed) served by conformance/sim, and a
	// device state directory ($STATE) that trusts and installed it.
	fxDevice
	// fxTUF: a sim repository and a "bsi tuf-client" metadata directory
	// ($MD) that refreshed it once.
	fxTUF
	// fxWorkspace: a publisher workspace ($WS) with webkit delegated and
	// webkit-26.3-a (sequence 1) added, and its key files in $DIR.
	fxWorkspace
)

// hostileEnv is one entry's world: its fixture, the files the attack writes,
// and the command's environment.
type hostileEnv struct {
	t     *testing.T
	dir   string    // $DIR: inputs written by the entry, key files
	repo  *sim.Repo // fxDevice, fxTUF
	pub   *sim.Publisher
	state string // $STATE
	md    string // $MD
	ws    string // $WS
	vars  map[string]string
	env   map[string]string // the command's environment (getenv)
	// watch lists the trees whose contents must not change.
	watch []string
}

func newHostileEnv(t *testing.T, fx fixture) *hostileEnv {
	t.Helper()
	h := &hostileEnv{t: t, dir: t.TempDir(), env: map[string]string{}}
	h.vars = map[string]string{"$DIR": h.dir}
	switch fx {
	case fxDevice:
		h.device()
	case fxTUF:
		h.tuf()
	case fxWorkspace:
		h.workspace()
	}
	h.watch = append(h.watch, h.dir)
	return h
}

// bsi runs one command line in-process, as main does, at hostileNow.
func (h *hostileEnv) bsi(ctx context.Context, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	e := &env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return h.env[k] }, Now: func() time.Time { return hostileNow },
		Logger: slog.New(slog.DiscardHandler)}
	code := run(ctx, args, e)
	return code, stdout.String(), stderr.String()
}

func (h *hostileEnv) must(args ...string) {
	h.t.Helper()
	args = h.expandAll(args)
	if code, out, errOut := h.bsi(context.Background(), args...); code != 0 {
		h.t.Fatalf("fixture: bsi %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
}

// expand replaces $DIR, $STATE, $MD, $WS, $URL and $TARGETS in s.
func (h *hostileEnv) expand(s string) string {
	for k, v := range h.vars {
		s = strings.ReplaceAll(s, k, v)
	}
	return s
}

func (h *hostileEnv) path(name string) string { return filepath.Join(h.dir, name) }

func (h *hostileEnv) write(name string, b []byte) string {
	h.t.Helper()
	p := h.path(name)
	mode := os.FileMode(0o644)
	if strings.HasSuffix(name, ".key") {
		mode = 0o600
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *hostileEnv) newSim() {
	h.repo = sim.New(hostileNow, func(err error) { h.t.Fatalf("simulator: %v", err) })
	h.t.Cleanup(h.repo.Close)
	h.vars["$URL"], h.vars["$TARGETS"] = h.repo.URL(), h.repo.TargetsURL()
}

func (h *hostileEnv) device() {
	ctx := context.Background()
	h.newSim()
	h.pub = sim.NewPublisher(ctx, h.repo, sim.PublisherOptions{Dir: filepath.Join(h.t.TempDir(), "ws"), Components: []string{"webkit"}})
	h.t.Cleanup(h.pub.Close)
	a := hostileManifest(1)
	h.pub.Add(ctx, a, hostilePayload(a))
	h.pub.Publish(ctx)
	h.state = filepath.Join(h.t.TempDir(), "state")
	h.vars["$STATE"] = h.state
	root := h.write("trusted-root.json", h.repo.Get("1.root.json"))
	h.must("client", "init", h.state, "--root", root, "--url", h.repo.URL(), "--targets-url", h.repo.TargetsURL(),
		"--platform", "macos", "--release", "26.3", "--build", "25D125")
	h.must("client", "install", h.state, "--all")
	h.watch = append(h.watch, h.state)
}

func (h *hostileEnv) tuf() {
	h.newSim()
	h.md = filepath.Join(h.t.TempDir(), "md")
	h.vars["$MD"] = h.md
	root := h.write("trusted-root.json", h.repo.Get("1.root.json"))
	h.must("tuf-client", "--metadata-dir", h.md, "init", root)
	h.must("tuf-client", "--metadata-dir", h.md, "--metadata-url", h.repo.URL(), "refresh")
	h.watch = append(h.watch, h.md)
}

// workspace builds a publisher workspace with unencrypted ed25519 keys
// $DIR/NAME.key for root, targets, snapshot, timestamp and webkit.
func (h *hostileEnv) workspace() {
	for _, name := range []string{"root", "targets", "snapshot", "timestamp", "webkit"} {
		priv, err := keys.Generate(keys.Ed25519)
		if err != nil {
			h.t.Fatal(err)
		}
		if err := keys.WriteKeyPair(h.path(name+".key"), priv, nil); err != nil {
			h.t.Fatal(err)
		}
	}
	h.ws = filepath.Join(h.t.TempDir(), "ws")
	h.vars["$WS"] = h.ws
	k := func(n string) string { return h.path(n + ".key") }
	h.must("repo", "init", h.ws, "--root-key", k("root")+".pub", "--targets-key", k("targets")+".pub",
		"--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	h.must("repo", "delegate", h.ws, "--component", "webkit", "--key", k("webkit")+".pub")
	a := hostileManifest(1)
	h.must("repo", "add", h.ws, "--manifest", h.writeManifest(a), "--payload", h.write(a.ID+".tar.gz", hostilePayload(a)),
		"--key", k("webkit"))
	h.watch = append(h.watch, h.ws)
}

func (h *hostileEnv) writeManifest(m *manifest.Manifest) string {
	h.t.Helper()
	b, err := m.Encode()
	if err != nil {
		h.t.Fatal(err)
	}
	return h.write(m.ID+".json", b)
}

// hostileManifest is webkit's improvement number seq for macOS 26.3.
func hostileManifest(seq int) *manifest.Manifest {
	return &manifest.Manifest{
		Schema: manifest.Schema, ID: fmt.Sprintf("webkit-26.3-%c", 'a'+seq-1), Title: "fix",
		Platform: "macos", Component: "webkit", AppliesTo: manifest.AppliesTo{Releases: []string{"26.3"}},
		Sequence: seq, Severity: manifest.SeverityHigh, Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive,
	}
}

func hostilePayload(m *manifest.Manifest) []byte {
	return testrepo.TarGz(map[string]string{"lib/webkit.txt": m.ID + "\n"})
}

// listHostile lists payload as webkit-26.3-b in the webkit role, outside the
// publisher (which refuses hostile archives), and publishes it.
func (h *hostileEnv) listHostile(payload []byte) {
	h.t.Helper()
	m := hostileManifest(2)
	custom, err := m.Custom()
	if err != nil {
		h.t.Fatal(err)
	}
	p := "webkit/" + m.ID + ".tar.gz"
	h.repo.AddTarget("webkit", p, payload)
	h.repo.SetCustom("webkit", p, custom)
	h.repo.Publish("webkit")
}

// treeState maps every path under the watched trees to a digest of what it
// is: type, permissions, size and content hash, or a symlink's target. The
// journal's last_check and history (the records of the failed run itself)
// are left out.
func (h *hostileEnv) treeState() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	for _, root := range h.watch {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			desc := info.Mode().String()
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				l, _ := os.Readlink(p)
				desc += " -> " + l
			case d.Type().IsRegular():
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if d.Name() == "installed.json" {
					b = withoutLastCheck(h.t, b)
				}
				sum := sha256.Sum256(b)
				desc += fmt.Sprintf(" %d %s", len(b), hex.EncodeToString(sum[:8]))
			}
			out[p] = desc
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			h.t.Fatal(err)
		}
	}
	return out
}

func withoutLastCheck(t *testing.T, b []byte) []byte {
	var j map[string]json.RawMessage
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("installed.json: %v", err)
	}
	delete(j, "last_check")
	delete(j, "history")
	b, _ = json.Marshal(j)
	return b
}

// compareState fails the test for every difference between before and
// after, except a metadata file in advances ("name", or "stored=served"
// for a role whose stored name is encoded) that now holds exactly the bytes
// the repository serves under that name (a valid file verified before the
// hostile one), and the verified-state record that lists such files.
func (h *hostileEnv) compareState(before, after map[string]string, advances []string) {
	h.t.Helper()
	var diffs []string
	for p, a := range after {
		b, ok := before[p]
		switch {
		case ok && a == b:
			continue
		case h.advanced(p, advances):
			continue
		case !ok:
			diffs = append(diffs, "new "+p+" "+a)
		default:
			diffs = append(diffs, "changed "+p+": "+b+" => "+a)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			diffs = append(diffs, "removed "+p)
		}
	}
	slices.Sort(diffs)
	for _, d := range diffs {
		h.t.Errorf("trusted state changed: %s", d)
	}
}

func (h *hostileEnv) advanced(p string, advances []string) bool {
	name := filepath.Base(p)
	if name == ".verified-state" {
		// The record of what was verified follows the files adopted.
		return len(advances) > 0
	}
	for _, a := range advances {
		stored, served, ok := strings.Cut(a, "=")
		if !ok {
			served = stored
		}
		if stored != name || h.repo == nil {
			continue
		}
		got, err := os.ReadFile(p)
		return err == nil && bytes.Equal(got, h.repo.Get(served))
	}
	return false
}
