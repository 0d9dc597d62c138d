package conformance

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// InitWith runs "CLIENT --metadata-dir D init ROOTFILE" with root as the
// trusted root file.
func (t *T) InitWith(root []byte) *Invocation {
	f := filepath.Join(t.dir, "trusted-root.json")
	if err := os.WriteFile(f, root, 0o644); err != nil {
		t.Fatalf("writing the initial root: %v", err)
	}
	return t.exec(append(slices.Clip(t.client), "--metadata-dir", t.MetadataDir, "init", f))
}

// Init initialises the client with the repository's version 1 root; the
// scenario fails when the client refuses it.
func (t *T) Init() {
	t.Succeeds("init", t.InitWith(t.Repo.Get("1.root.json")))
}

// Refresh runs "CLIENT --metadata-url U --metadata-dir D refresh".
func (t *T) Refresh() *Invocation {
	return t.exec(append(slices.Clip(t.client), "--metadata-url", t.Repo.URL(), "--metadata-dir", t.MetadataDir, "refresh"))
}

// Download runs the download command for the target names.
func (t *T) Download(names ...string) *Invocation {
	argv := append(slices.Clip(t.client), "--metadata-url", t.Repo.URL(), "--metadata-dir", t.MetadataDir)
	for _, n := range names {
		argv = append(argv, "--target-name", n)
	}
	argv = append(argv, "--target-dir", t.TargetDir, "--target-base-url", t.Repo.TargetsURL(), "download")
	return t.exec(argv)
}

// Succeeds fails the scenario unless inv exited 0.
func (t *T) Succeeds(what string, inv *Invocation) {
	if inv.Exit != 0 {
		t.Fatalf("%s: expected success (exit 0), the client exited %d", what, inv.Exit)
	}
}

// Fails fails the scenario unless inv exited 1 (the protocol's failure).
func (t *T) Fails(what string, inv *Invocation) {
	switch inv.Exit {
	case 0:
		t.Fatalf("%s: expected the client to refuse (exit 1), it exited 0", what)
	case 1:
	default:
		t.Fatalf("%s: expected a clean refusal (exit 1), the client exited %d", what, inv.Exit)
	}
}

// WantRequests fails the scenario unless inv made exactly the requests want.
func (t *T) WantRequests(inv *Invocation, want ...string) {
	if !slices.Equal(inv.Requests, want) {
		t.Errorf("requests: expected %v, the client made %v", want, inv.Requests)
	}
}

// WantRequested fails the scenario unless inv requested name.
func (t *T) WantRequested(inv *Invocation, name string) {
	if !slices.Contains(inv.Requests, name) {
		t.Errorf("requests: expected a request for %s, the client made %v", name, inv.Requests)
	}
}

// WantNotRequested fails the scenario if inv requested any name with prefix.
func (t *T) WantNotRequested(inv *Invocation, prefix string) {
	for _, r := range inv.Requests {
		if strings.HasPrefix(r, prefix) {
			t.Errorf("requests: expected no request for %s*, the client made %v", prefix, inv.Requests)
			return
		}
	}
}

// TrustedVersion is the version of the role file the client keeps in its
// metadata directory (ROLE.json), or 0 when there is none.
func (t *T) TrustedVersion(role string) int64 {
	b, err := os.ReadFile(filepath.Join(t.MetadataDir, role+".json"))
	if err != nil {
		return 0
	}
	var md struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if json.Unmarshal(b, &md) != nil {
		return -1
	}
	return md.Signed.Version
}

// WantTrusted fails the scenario unless the client keeps role at version v.
func (t *T) WantTrusted(role string, v int64) {
	if got := t.TrustedVersion(role); got != v {
		t.Errorf("trusted %s: expected version %d in the metadata directory, found %d", role, v, got)
	}
}

// TargetFile returns the downloaded file for target path p: the client may
// store it under its percent-encoded name or under its path.
func (t *T) TargetFile(p string) ([]byte, bool) {
	for _, name := range []string{escapeName(p), filepath.FromSlash(p), filepath.Base(p)} {
		if b, err := os.ReadFile(filepath.Join(t.TargetDir, name)); err == nil {
			return b, true
		}
	}
	return nil, false
}

// WantTarget fails the scenario unless target p was written with data.
func (t *T) WantTarget(p string, data []byte) {
	got, ok := t.TargetFile(p)
	switch {
	case !ok:
		t.Errorf("target %s: expected it in the target directory, found only %v", p, listFiles(t.dir, t.TargetDir))
	case string(got) != string(data):
		t.Errorf("target %s: the file written differs from the published payload", p)
	}
}

// WantNoTarget fails the scenario if any file holding data was written.
func (t *T) WantNoTarget(data []byte) {
	for _, f := range listFiles(t.TargetDir, t.TargetDir) {
		if b, err := os.ReadFile(filepath.Join(t.TargetDir, f)); err == nil && string(b) == string(data) {
			t.Errorf("target directory: a refused payload was written as %s", f)
		}
	}
}

// escapeName percent-encodes every byte outside [A-Za-z0-9_.~-], "/" too,
// and a leading "." (the name bsi tuf-client and python-tuf use).
func escapeName(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case (c == '.' || c == '~') && i > 0:
			b.WriteByte(c)
		default:
			b.WriteString("%" + strings.ToUpper(hexByte(c)))
		}
	}
	return b.String()
}

func hexByte(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}

// hexHash is the lower-case hex sha256 of data.
func hexHash(data []byte) string {
	return fmt.Sprintf("%x", sha256.Sum256(data))
}
