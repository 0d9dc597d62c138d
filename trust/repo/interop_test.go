package repo

import (
	"errors"
	"os"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
)

// fetcher is a TUF client that refreshes and downloads one target.
type fetcher interface {
	fetch(target string, want []byte) *manifest.Manifest
}

func trustedClient(f *fixture) fetcher { return f.client() }

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInteropFlat(t *testing.T) {
	f := newFixture(t)
	f.init(1, "root1")
	if err := f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}); err != nil {
		t.Fatal(err)
	}
	p := f.add("webkit-26.3-a", "webkit", 1, "webkit1")
	f.sign("root1", "targets")
	f.publish()
	m := f.client().fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, p))
	if m.ID != "webkit-26.3-a" || m.Sequence != 1 || m.Status != manifest.StatusActive {
		t.Fatalf("manifest %+v", m)
	}
}

func TestInteropBins(t *testing.T) { binsScenario(t, trustedClient) }

func TestInteropBinsSHA512(t *testing.T) { binsScenario(t, trustedClient, "sha256", "sha512") }

// binsScenario: a component with 16 hash bins; adding one improvement
// changes only its bin.
func binsScenario(t *testing.T, newClient func(*fixture) fetcher, hashes ...string) {
	f := newFixture(t)
	f.hashes = hashes
	f.init(1, "root1")
	ctx := t.Context()
	if err := f.ws.Delegate(ctx, "webkit", DelegateOptions{Keys: f.tufKeys("webkit1", "webkit2"), Threshold: 2, Bins: 16}); err != nil {
		t.Fatal(err)
	}
	var last string
	for i := 1; i <= 5; i++ {
		last = f.add(idN(i), "webkit", i)
	}
	f.sign("root1", "targets", "webkit1", "webkit2")
	f.publish()
	c := newClient(f)
	c.fetch("webkit/"+idN(5)+".tar.gz", readFile(t, last))

	p := f.add(idN(6), "webkit", 6, "webkit1", "webkit2")
	res := f.publish()
	bin := f.ws.roleForTarget("webkit", "webkit/"+idN(6)+".tar.gz")
	var roles []string
	for _, n := range res.Written {
		if !startsWithDigitTargets(n) {
			roles = append(roles, n)
		}
	}
	want := []string{"2." + bin + ".json", "2.snapshot.json", "timestamp.json"}
	if mustJSON(roles) != mustJSON(want) {
		t.Errorf("metadata written = %v, want %v", roles, want)
	}
	c.fetch("webkit/"+idN(6)+".tar.gz", readFile(t, p))
	checkPayloadNames(t, f)
}

func startsWithDigitTargets(n string) bool { return len(n) > 8 && n[:8] == "targets/" }

func idN(i int) string { return "webkit-26.3-" + string(rune('a'+i-1)) }

func TestInteropWholeLife(t *testing.T) { wholeLife(t, trustedClient) }

func TestInteropWholeLifeSHA512(t *testing.T) { wholeLife(t, trustedClient, "sha256", "sha512") }

// wholeLife is the "done when": a 2-of-3 root, two components,
// offline root signing, publish, withdraw, timestamp key rotation and root
// key rotation, with a client following every step.
func wholeLife(t *testing.T, newClient func(*fixture) fetcher, hashes ...string) {
	f := newFixture(t)
	f.hashes = hashes
	ws := f.init(2, "root1", "root2", "root3")
	ctx := t.Context()
	for _, c := range []string{"webkit", "safari"} {
		if err := ws.Delegate(ctx, c, DelegateOptions{Keys: f.tufKeys(c + "1")}); err != nil {
			t.Fatal(err)
		}
	}
	wa := f.add("webkit-26.3-a", "webkit", 1, "webkit1")
	sa := f.add("safari-26.3-a", "safari", 1, "safari1")

	// Root signed offline: export, sign elsewhere, import.
	exp, err := ws.ExportRole(metadata.ROOT)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := SignFile(ctx, f.key("root1"), exp.Metadata, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ws.ImportFile(ctx, metadata.ROOT, signed); err != nil || n != 1 {
		t.Fatalf("import: %d, %v", n, err)
	}
	assertStatus(t, ws, set("root", "targets", "webkit", "safari"), set("root", "targets"))
	f.sign("root2", "targets")
	assertStatus(t, ws, set("root", "targets", "webkit", "safari"), set())
	f.publish()
	c := newClient(f)
	c.fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, wa))
	c.fetch("safari/safari-26.3-a.tar.gz", readFile(t, sa))

	// Withdraw.
	if err := ws.Withdraw(ctx, "webkit-26.3-a", "breaks video playback"); err != nil {
		t.Fatal(err)
	}
	assertStatus(t, ws, set("webkit"), set("webkit"))
	f.sign("webkit1")
	f.publish()
	if m := c.fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, wa)); m.Status != manifest.StatusWithdrawn || m.WithdrawnReason != "breaks video playback" {
		t.Fatalf("after withdraw: %+v", m)
	}

	// Timestamp key rotation: root v2.
	f.key("timestamp2")
	if err := ws.Rotate(ctx, metadata.TIMESTAMP, RotateOptions{AddRefs: []string{"timestamp2"}, Remove: []string{f.keyID("timestamp")}}); err != nil {
		t.Fatal(err)
	}
	assertStatus(t, ws, set("root"), set("root"))
	f.sign("root1", "root3")
	f.publish()
	c.fetch("safari/safari-26.3-a.tar.gz", readFile(t, sa))

	// Root key rotation: root v3 needs 2 of {1,2,3} and 2 of {1,2,4}.
	if err := ws.Rotate(ctx, metadata.ROOT, RotateOptions{Add: f.tufKeys("root4"), Remove: []string{f.keyID("root3")}}); err != nil {
		t.Fatal(err)
	}
	f.sign("root3", "root4")
	_, err = ws.Publish(ctx, mustDir(t, f.public()))
	var pe *PendingError
	if !errors.As(err, &pe) || len(pe.Roles) != 2 {
		t.Fatalf("publish with 1 of 2 old and new root signatures: %v", err)
	}
	assertStatus(t, ws, set("root"), set("root"))
	f.sign("root1")
	assertStatus(t, ws, set("root"), set())
	f.publish()
	c.fetch("webkit/webkit-26.3-a.tar.gz", readFile(t, wa))
	if v := f.ws.root.Signed.Version; v != 3 {
		t.Fatalf("root version %d", v)
	}
	checkPayloadNames(t, f)
}

func mustDir(t testing.TB, dir string) Destination {
	d, err := DirDestination(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// assertStatus checks which offline roles are pending (changed since the
// last publish) and which are below their threshold.
func assertStatus(t *testing.T, ws *Workspace, pending, unsigned map[string]bool) {
	t.Helper()
	st, err := ws.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range st {
		if !offline(r.Role) {
			continue
		}
		if r.Pending != pending[r.Role] {
			t.Errorf("%s pending = %v, want %v", r.Role, r.Pending, pending[r.Role])
		}
		if r.Unsigned != unsigned[r.Role] {
			t.Errorf("%s unsigned = %v, want %v (%d of %d)", r.Role, r.Unsigned, unsigned[r.Role], r.Signatures, r.Threshold)
		}
	}
}

func TestPublishUnchangedWritesNothing(t *testing.T) {
	f := published(t)
	res := f.publish()
	if len(res.Written) != 0 {
		t.Fatalf("unchanged publish wrote %v", res.Written)
	}
	f.ws.Close()
	w, err := Open(t.Context(), f.dir, f.opts())
	if err != nil {
		t.Fatal(err)
	}
	f.ws = w
	if res := f.publish(); len(res.Written) != 0 {
		t.Fatalf("unchanged publish after reopen wrote %v", res.Written)
	}
}
