package conformance

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/bsiframework/bsi/manifest"
)

// The bsi group drives "bsi client" (Options.BSI) as a device would: the
// state directory is the scenario's MetadataDir, the install root its
// TargetDir, the repository is built by the real publisher (sim.Publisher)
// and the device is macOS 26.3, build 25D125.
const (
	devPlatform = "macos"
	devRelease  = "26.3"
	devBuild    = "25D125"
)

// Publisher replaces the scenario's repository with one published by the
// real publisher, delegating components; it is closed with the scenario.
func (t *T) Publisher(components ...string) *sim.Publisher {
	p := sim.NewPublisher(t.ctx, t.Repo, sim.PublisherOptions{Dir: filepath.Join(t.dir, "workspace"), Components: components})
	t.cleanup = append(t.cleanup, p.Close)
	return p
}

// BSI runs the bsi command with args.
func (t *T) BSI(args ...string) *Invocation {
	return t.exec(append(slices.Clip(t.bsi), args...))
}

// DeviceInit runs "bsi client init" for the scenario's device, trusting
// the repository's version 1 root; the scenario fails when it does not
// succeed.
func (t *T) DeviceInit() {
	f := filepath.Join(t.dir, "trusted-root.json")
	if err := os.WriteFile(f, t.Repo.Get("1.root.json"), 0o644); err != nil {
		t.Fatalf("writing the initial root: %v", err)
	}
	t.Succeeds("bsi client init", t.BSI("client", "init", t.MetadataDir, "--root", f, "--url", t.Repo.URL(),
		"--targets-url", t.Repo.TargetsURL(), "--platform", devPlatform, "--release", devRelease,
		"--build", devBuild, "--install-root", t.TargetDir))
}

// InstallAll runs "bsi client install STATE --all" with extra arguments.
func (t *T) InstallAll(extra ...string) *Invocation {
	return t.BSI(append([]string{"client", "install", t.MetadataDir, "--all"}, extra...)...)
}

// WantExit fails the scenario unless inv exited with code (bsi's exit
// codes: 0 ok, 1 failure, 3 security, 4 freshness).
func (t *T) WantExit(what string, inv *Invocation, code int) {
	if inv.Exit != code {
		t.Fatalf("%s: expected exit %d, bsi exited %d%s", what, code, inv.Exit, stderrTail(inv.Stderr))
	}
}

// DeviceStatus is what "bsi client status STATE --json" says.
type DeviceStatus struct {
	Installed []struct {
		Component string `json:"component"`
		ID        string `json:"id"`
		Sequence  int    `json:"sequence"`
	} `json:"installed"`
	Declined map[string][]struct {
		ID string `json:"id"`
	} `json:"declined"`
	Attention []string `json:"attention"`
}

// Status runs "bsi client status STATE --json" and decodes it.
func (t *T) Status() *DeviceStatus {
	inv := t.BSI("client", "status", t.MetadataDir, "--json")
	t.Succeeds("bsi client status", inv)
	var st DeviceStatus
	if err := json.Unmarshal([]byte(inv.Stdout), &st); err != nil {
		t.Fatalf("bsi client status --json: %v", err)
	}
	return &st
}

// WantInstalled fails the scenario unless component has improvement id
// installed ("" for the baseline), both as status reports it and on disk:
// the component's current link names versions/ID and holds that
// improvement's payload.
func (t *T) WantInstalled(component, id string) {
	got := ""
	for _, in := range t.Status().Installed {
		if in.Component == component {
			got = in.ID
		}
	}
	if got != id {
		t.Errorf("status: expected %s at %s, bsi reports %s", component, orBaseline(id), orBaseline(got))
	}
	cur := filepath.Join(t.TargetDir, component, "current")
	link, err := os.Readlink(cur)
	switch {
	case id == "" && err == nil:
		t.Errorf("install root: %s/current links to %s, expected the baseline (no link)", component, link)
	case id == "":
	case err != nil:
		t.Errorf("install root: expected %s/current to link to versions/%s: %v", component, id, err)
	case filepath.Base(link) != id:
		t.Errorf("install root: %s/current links to %s, expected versions/%s", component, link, id)
	default:
		b, err := os.ReadFile(filepath.Join(cur, "lib", component+".txt"))
		if err != nil || string(b) != id+"\n" {
			t.Errorf("install root: %s/current does not hold the payload of %s (%q, %v)", component, id, b, err)
		}
	}
}

func orBaseline(id string) string {
	if id == "" {
		return "the baseline"
	}
	return id
}

// WantAttention fails the scenario unless status asks for attention about
// something mentioning text.
func (t *T) WantAttention(text string) {
	st := t.Status()
	for _, a := range st.Attention {
		if strings.Contains(a, text) {
			return
		}
	}
	t.Errorf("status: expected an attention item mentioning %s, found %q", text, st.Attention)
}

// improvement is an active manifest for the device's platform: id
// "<component>-<release>-<letter of seq>".
func improvement(component, release string, seq int, edit ...func(*manifest.Manifest)) *manifest.Manifest {
	m := &manifest.Manifest{
		Schema: manifest.Schema, ID: fmt.Sprintf("%s-%s-%c", component, release, 'a'+seq-1), Title: "fix",
		Platform: devPlatform, Component: component, AppliesTo: manifest.AppliesTo{Releases: []string{release}},
		Sequence: seq, Severity: manifest.SeverityHigh, Released: "2026-11-27T10:00:00Z", Status: manifest.StatusActive,
	}
	for _, e := range edit {
		e(m)
	}
	return m
}

// payload is the archive of improvement m: lib/<component>.txt holding
// its id, which WantInstalled looks for.
func payload(m *manifest.Manifest) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	body := []byte(m.ID + "\n")
	tw.WriteHeader(&tar.Header{Name: "lib/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "lib/" + m.Component + ".txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))})
	tw.Write(body)
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// publish adds the improvements (with their payloads) and publishes.
func publish(t *T, p *sim.Publisher, ms ...*manifest.Manifest) {
	for _, m := range ms {
		p.Add(t.ctx, m, payload(m))
	}
	p.Publish(t.ctx)
}
