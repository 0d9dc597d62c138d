package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// binnedRepo returns a published fixture whose component webkit has 16
// bins and n improvements, closed and opened again (cold caches).
func binnedRepo(t *testing.T, n int) *fixture {
	f := newFixture(t)
	f.init(1, "root1")
	if err := f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1"), Bins: 16}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		f.add(fmt.Sprintf("webkit-%03d", i), "webkit", i)
	}
	f.sign("root1", "targets", "webkit1")
	f.publish()
	f.reopen()
	return f
}

func (f *fixture) reopen() {
	f.t.Helper()
	f.ws.Close()
	w, err := Open(f.t.Context(), f.dir, f.opts())
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { w.Close() })
	f.ws = w
}

// TestAddOneTouchesOnlyItsBin: adding one improvement to a binned
// component and publishing decodes only root, snapshot, timestamp, targets,
// the component role and the changed bin; it reads no earlier role back
// from the destination; it writes the payload, the bin, snapshot and
// timestamp.
func TestAddOneTouchesOnlyItsBin(t *testing.T) {
	f := binnedRepo(t, 20)
	p := f.payload("webkit-021", "payload of webkit-021")
	if _, err := f.ws.Add(t.Context(), AddRequest{Manifest: manifestJSON("webkit-021", "webkit", 21), Payload: p, Signers: f.signers_("webkit1")}); err != nil {
		t.Fatal(err)
	}
	dest := &countingDest{Destination: mustDir(t, f.public())}
	res, err := f.ws.Publish(t.Context(), dest)
	if err != nil {
		t.Fatal(err)
	}
	bin := f.ws.roleForTarget("webkit", "webkit/webkit-021.tar.gz")
	var meta []string
	payloads := 0
	for _, n := range res.Written {
		if strings.HasPrefix(n, "targets/") {
			payloads++
		} else {
			meta = append(meta, n)
		}
	}
	if want := []string{"2." + bin + ".json", "2.snapshot.json", "timestamp.json"}; payloads != 1 || !slices.Equal(meta, want) {
		t.Errorf("written: %d payload files and %v, want 1 (its sha256 name) and %v", payloads, meta, want)
	}
	decoded := slices.Sorted(slices.Values(f.ws.stats.decoded))
	want := slices.Sorted(slices.Values([]string{"root.json", "snapshot.json", "timestamp.json", "targets.json", "webkit.json", bin + ".json"}))
	if d := cmp.Diff(want, slices.Compact(decoded)); d != "" || len(decoded) != len(want) {
		t.Errorf("roles decoded %v (-want +got):\n%s", f.ws.stats.decoded, d)
	}
	for _, n := range dest.reads {
		// putFile looks at each name before writing it; nothing else.
		if (strings.Contains(n, ".bin-") || strings.Contains(n, "webkit.json")) && !slices.Contains(res.Written, n) {
			t.Errorf("publish read %s back from the destination", n)
		}
	}
	f.client().fetch("webkit/webkit-021.tar.gz", readFile(t, p))
}

// TestPublishToAnotherDestinationWritesEveryPayload: the list of targets
// changed since the last publish only serves a destination that holds that
// publish; any other gets every payload.
func TestPublishToAnotherDestinationWritesEveryPayload(t *testing.T) {
	f := binnedRepo(t, 6)
	f.add("webkit-007", "webkit", 7, "webkit1")
	other := filepath.Join(t.TempDir(), "other")
	res, err := f.ws.Publish(t.Context(), mustDir(t, other))
	if err != nil {
		t.Fatal(err)
	}
	payloads := 0
	for _, n := range res.Written {
		if strings.HasPrefix(n, "targets/") {
			payloads++
		}
	}
	if payloads != 7 {
		t.Fatalf("fresh destination got %d payload files, want %d (one name each)", payloads, 7)
	}
	// The default destination missed that publish: it is one snapshot
	// behind, so its payloads are found by comparing with what it serves.
	res = f.publish()
	payloads = 0
	for _, n := range res.Written {
		if strings.HasPrefix(n, "targets/") {
			payloads++
		}
	}
	if payloads != 1 {
		t.Fatalf("lagging destination got %d payload files, want 1 (%v)", payloads, res.Written)
	}
	f.client().fetch("webkit/webkit-007.tar.gz", readFile(t, filepath.Join(filepath.Dir(f.dir), "webkit-007.tar.gz")))
}

// TestUnpublishedListIsBounded: past maxUnpublished targets a role is
// dropped from the list and Publish falls back to comparing.
func TestUnpublishedListIsBounded(t *testing.T) {
	f := published(t)
	w := f.ws
	if err := w.edit("webkit"); err != nil {
		t.Fatal(err)
	}
	for i := range maxUnpublished {
		w.changedTarget("webkit", fmt.Sprintf("webkit/x-%d.tar", i))
	}
	if got := len(w.cfg.Unpublished["webkit"]); got != maxUnpublished {
		t.Fatalf("%d targets listed, want %d", got, maxUnpublished)
	}
	w.changedTarget("webkit", "webkit/one-more.tar")
	if _, ok := w.cfg.Unpublished["webkit"]; ok {
		t.Fatal("role still listed past the bound")
	}
	w.changedTarget("webkit", "webkit/and-another.tar")
	if _, ok := w.cfg.Unpublished["webkit"]; ok {
		t.Fatal("role listed again after being dropped")
	}
}

// TestDuplicateIDAcrossBins: an id is unique across both archive kinds,
// whose targets usually fall in different bins, and whichever bins are
// loaded.
func TestDuplicateIDAcrossBins(t *testing.T) {
	f := binnedRepo(t, 3)
	tarPayload := tarFile(t, t.TempDir(), reg("lib/x"))
	_, err := f.ws.Add(t.Context(), AddRequest{Manifest: manifestJSON("webkit-002", "webkit", 4), Payload: tarPayload})
	var ie *ImprovementError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "already exists as webkit/webkit-002.tar.gz") {
		t.Fatalf("adding webkit-002 again as a tar: %v", err)
	}
	if _, err := f.ws.Add(t.Context(), AddRequest{Manifest: manifestJSON("webkit-004", "webkit", 4), Payload: tarPayload}); err != nil {
		t.Fatal(err)
	}
	f.reopen()
	_, err = f.ws.Add(t.Context(), AddRequest{Manifest: manifestJSON("webkit-004", "webkit", 5), Payload: f.payload("again", "x")})
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "already exists as webkit/webkit-004.tar") {
		t.Fatalf("adding webkit-004 again as a tar.gz: %v", err)
	}
}

// TestRoleBytes: a role file is written around the canonical bytes made
// for signing, unless a string holds a control character (which canonical
// JSON leaves unescaped); either way it decodes to the same signed role.
func TestRoleBytes(t *testing.T) {
	for _, note := range []string{"plain", "two\\nlines"} {
		f := binnedRepo(t, 1)
		w := f.ws
		role := w.roleForTarget("webkit", "webkit/webkit-001.tar.gz")
		if err := w.edit(role); err != nil {
			t.Fatal(err)
		}
		tf := w.targets[role].Signed.Targets["webkit/webkit-001.tar.gz"]
		custom := json.RawMessage(`{"note":"` + note + `"}`)
		tf.Custom = &custom
		if _, err := w.signRole(t.Context(), role, f.key("webkit1"), []string{f.keyID("webkit1")}); err != nil {
			t.Fatal(err)
		}
		data, err := w.roleBytes(role)
		if err != nil {
			t.Fatal(err)
		}
		canon, _, _, _ := w.signable(role)
		if fast := bytes.Contains(data, canon); fast != (note == "plain") {
			t.Errorf("%s: written around the canonical bytes: %t", note, fast)
		}
		m, err := decodeTargets(data)
		if err != nil {
			t.Fatalf("%s: %v\n%s", note, err, data)
		}
		again, err := canonicalOf(m.Signed)
		if err != nil || !bytes.Equal(again, canon) {
			t.Errorf("%s: decoded role has other canonical bytes (%v)", note, err)
		}
		if d := cmp.Diff(w.targets[role].Signatures, m.Signatures, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("%s: signatures differ:\n%s", note, d)
		}
	}
}

// TestShortContentFileIsWrittenAgain: a content file cut short (a crash
// before the barrier of the operation that wrote it) is replaced when the
// same payload is added again, instead of being taken as present.
func TestShortContentFileIsWrittenAgain(t *testing.T) {
	f := published(t)
	p := filepath.Join(filepath.Dir(f.dir), "webkit-26.3-a.tar.gz")
	entries, err := os.ReadDir(filepath.Join(f.dir, "content"))
	if err != nil || len(entries) != 1 {
		t.Fatalf("content store: %v %v", entries, err)
	}
	if err := os.Truncate(filepath.Join(f.dir, "content", entries[0].Name()), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.ws.Add(t.Context(), AddRequest{Manifest: manifestJSON("webkit-26.3-b", "webkit", 2), Payload: p, Signers: f.signers_("webkit1")}); err != nil {
		t.Fatal(err)
	}
	f.publish()
	f.client().fetch("webkit/webkit-26.3-b.tar.gz", readFile(t, p))
}
