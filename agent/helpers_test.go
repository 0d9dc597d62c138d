package agent

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bsiframework/bsi/agent/testrepo"
	"github.com/bsiframework/bsi/manifest"
)

var start = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a repository with webkit and safari roles, served on
// 127.0.0.1, and a device state for macOS 26.3 build 25D125.
type fixture struct {
	t      *testing.T
	clock  *clock
	repo   *testrepo.Repo
	state  string
	health func(ctx context.Context, component, id, dir string) error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := &clock{t: start}
	repo, err := testrepo.New(c.Now, "webkit", "safari")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(repo.Close)
	f := &fixture{t: t, clock: c, repo: repo, state: filepath.Join(t.TempDir(), "state")}
	cfg := Config{Platform: "macos", Release: "26.3", Build: "25D125", MetadataURL: repo.URL()}
	if err := Init(f.state, repo.RootJSON(), cfg, c.Now()); err != nil {
		t.Fatal(err)
	}
	return f
}

// publish adds improvements (each with a payload naming it) and publishes.
func (f *fixture) publish(ms ...*manifest.Manifest) {
	f.t.Helper()
	for _, m := range ms {
		f.add(m.Component, m, payloadFor(m))
	}
	if err := f.repo.Publish(); err != nil {
		f.t.Fatal(err)
	}
}

func payloadFor(m *manifest.Manifest) []byte {
	return testrepo.TarGz(map[string]string{"lib/" + m.Component + ".txt": m.ID + "\n"})
}

// add lists m under role with payload, without publishing.
func (f *fixture) add(role string, m *manifest.Manifest, payload []byte) {
	f.t.Helper()
	custom, err := m.Custom()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.repo.AddTarget(role, m.Component+"/"+m.ID+".tar.gz", payload, custom); err != nil {
		f.t.Fatal(err)
	}
}

// withdraw republishes m as withdrawn.
func (f *fixture) withdraw(m *manifest.Manifest) {
	f.t.Helper()
	w := *m
	withdrawn(&w)
	custom, err := w.Custom()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.repo.SetCustom(m.Component, m.Component+"/"+m.ID+".tar.gz", custom); err != nil {
		f.t.Fatal(err)
	}
	if err := f.repo.Publish(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) options() Options {
	return Options{State: f.state, Now: f.clock.Now, Health: f.health}
}

func (f *fixture) open() *Agent {
	f.t.Helper()
	a, err := Open(context.Background(), f.options())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { a.Close() })
	return a
}

// converge opens the state, checks and applies every change, as a round
// of Run does: a check confined to components (a report and an error)
// still applies the other components' changes.
func (f *fixture) converge() (*Report, *Result, error) {
	f.t.Helper()
	a, err := Open(context.Background(), f.options())
	if err != nil {
		return nil, nil, err
	}
	defer a.Close()
	rep, err := a.Check(context.Background())
	if rep == nil {
		return nil, nil, err
	}
	res, err := a.Apply(context.Background(), rep, nil)
	return rep, res, err
}

func (f *fixture) mustConverge() *Result {
	f.t.Helper()
	_, res, err := f.converge()
	if err != nil {
		f.t.Fatalf("converge: %v", err)
	}
	return res
}

// current reads the install root: the current version of component and the
// content of its payload file, "" for the baseline.
func (f *fixture) current(component string) string {
	f.t.Helper()
	dir := filepath.Join(f.state, "root", component, "current")
	b, err := os.ReadFile(filepath.Join(dir, "lib", component+".txt"))
	if os.IsNotExist(err) {
		if _, lerr := os.Lstat(dir); lerr == nil {
			f.t.Fatalf("%s: current exists but has no payload file", component)
		}
		return ""
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b[:len(b)-1])
}

// journalID is what the journal says is installed for component.
func (f *fixture) journalID(component string) string {
	f.t.Helper()
	j, err := readJournal(filepath.Join(f.state, journalFile))
	if err != nil {
		f.t.Fatal(err)
	}
	if in := j.Installed[component]; in != nil {
		return in.ID
	}
	return ""
}

// wantInstalled checks both the install root and the journal.
func (f *fixture) wantInstalled(component, id string) {
	f.t.Helper()
	if got := f.current(component); got != id {
		f.t.Errorf("%s: install root has %q, want %q", component, got, id)
	}
	if got := f.journalID(component); got != id {
		f.t.Errorf("%s: journal has %q, want %q", component, got, id)
	}
}

func kinds(acts []Action) map[string]Kind {
	out := map[string]Kind{}
	for _, a := range acts {
		if a.Kind != Ignore && a.Kind != Reject {
			out[a.Component] = a.Kind
		}
	}
	return out
}
