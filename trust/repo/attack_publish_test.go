package repo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/trust"
)

// rewriteRole edits a role file of the workspace in place, as someone with
// write access to the online machine would: no key, no re-signing.
func rewriteRole(t *testing.T, f *fixture, role string, edit func(m *targetsMeta)) {
	t.Helper()
	p := f.ws.rolePath(role)
	data, err := os.ReadFile(p)
	must(t, err)
	m, err := new(targetsMeta).FromBytes(data)
	must(t, err)
	edit(m)
	out, err := m.ToBytes(false)
	must(t, err)
	must(t, os.WriteFile(p, out, 0o644))
	f.reopen()
}

// TestAttackPublishUnsignedTargetsEdit: an in-place edit of the
// workspace's targets.json (not re-signed) delegating webkit to the
// attacker's key, then a webkit improvement signed by that key. Publish
// used to check only the roles marked edited and signed a snapshot pinning
// a webkit role no team key signed. It must refuse, naming the role,
// before any online signature: workspace and destination unchanged.
func TestAttackPublishUnsignedTargetsEdit(t *testing.T) {
	f := published(t)
	evil := f.tufKey("evil")
	evilID, _ := evil.ID()
	rewriteRole(t, f, metadata.TARGETS, func(m *targetsMeta) {
		m.Signed.Delegations.Keys[evilID] = evil
		for i, r := range m.Signed.Delegations.Roles {
			if r.Name == "webkit" {
				m.Signed.Delegations.Roles[i].KeyIDs = []string{evilID}
			}
		}
	})
	f.add("webkit-26.3-b", "webkit", 2, "evil")
	wsBefore, destBefore := tree(t, f.dir), tree(t, f.public())
	_, err := f.ws.Publish(t.Context(), mustDir(t, f.public()))
	var ve *VerifyError
	if !errors.As(err, &ve) || !errors.Is(err, trust.ErrSecurity) {
		t.Fatalf("Publish: %v, want a *VerifyError", err)
	}
	if !strings.Contains(err.Error(), "targets") && !strings.Contains(err.Error(), "webkit") {
		t.Errorf("error %q names neither targets nor webkit", err)
	}
	wsAfter := tree(t, f.dir)
	delete(wsAfter, "public/")
	for k := range wsAfter {
		if strings.HasPrefix(k, "public/") {
			delete(wsAfter, k)
		}
	}
	for k := range wsBefore {
		if strings.HasPrefix(k, "public") {
			delete(wsBefore, k)
		}
	}
	if d := diffTree(wsBefore, wsAfter); d != "" {
		t.Errorf("workspace changed:\n%s", d)
	}
	if d := diffTree(destBefore, tree(t, f.public())); d != "" {
		t.Errorf("destination changed:\n%s", d)
	}
}

// TestAttackPublishTamperedPayload: a payload of the content store
// replaced on the online machine is refused before anything is signed or
// written, naming the payload.
func TestAttackPublishTamperedPayload(t *testing.T) {
	f := published(t)
	f.add("webkit-26.3-b", "webkit", 2, "webkit1")
	tf := f.ws.targets["webkit"].Signed.Targets["webkit/webkit-26.3-b.tar.gz"]
	must(t, os.WriteFile(f.ws.path("content", fmt.Sprintf("%x", []byte(tf.Hashes["sha256"]))), []byte("evil"), 0o644))
	destBefore := tree(t, f.public())
	_, err := f.ws.Publish(t.Context(), mustDir(t, f.public()))
	var ve *VerifyError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "webkit-26.3-b") {
		t.Fatalf("Publish: %v, want a *VerifyError naming the payload", err)
	}
	if d := diffTree(destBefore, tree(t, f.public())); d != "" {
		t.Errorf("destination changed:\n%s", d)
	}
}

// TestAttackPublishForgedRootChain: a root v2 planted in the workspace,
// signed only by the new (attacker's) key, is refused: the chain from the
// published root does not reach it.
func TestAttackPublishForgedRootChain(t *testing.T) {
	f := published(t)
	data, err := os.ReadFile(f.ws.rolePath(metadata.ROOT))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(f.dir, "metadata", "roots", "1.root.json"), data, 0o644))
	r, err := new(rootMeta).FromBytes(data)
	must(t, err)
	evil := f.tufKey("evil")
	evilID, _ := evil.ID()
	r.Signed.Version = 2
	r.Signed.Keys[evilID] = evil
	r.Signed.Roles[metadata.ROOT].KeyIDs = []string{evilID}
	r.Signed.Roles[metadata.TARGETS].KeyIDs = []string{evilID}
	r.ClearSignatures()
	if _, err := r.Sign(f.key("evil")); err != nil {
		t.Fatal(err)
	}
	out, err := r.ToBytes(false)
	must(t, err)
	must(t, os.WriteFile(f.ws.rolePath(metadata.ROOT), out, 0o644))
	f.reopen()
	f.ws.cfg.Edited[metadata.SNAPSHOT] = true // make publish sign something
	_, err = f.ws.Publish(t.Context(), mustDir(t, f.public()))
	var ve *VerifyError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "root v2") {
		t.Fatalf("Publish: %v, want a *VerifyError naming root v2", err)
	}
}

// TestAttackMirrorWithComponentKeySubstitutesRole: a mirror that holds the
// webkit key signs another webkit role with the published version
// (another payload listed) and serves it in place of the real one. The
// snapshot now pins length and hashes of every targets-family file, so
// the client refuses the substitute (mix-and-match); it used to pin the
// version only, and the substitute verified.
func TestAttackMirrorWithComponentKeySubstitutesRole(t *testing.T) {
	f := published(t)
	for name, mf := range f.ws.snapshot.Signed.Meta {
		if !pinned(mf) {
			t.Errorf("snapshot lists %s without length and sha256: %+v", name, mf)
		}
	}
	name := filepath.Join(f.public(), "1.webkit.json")
	data, err := os.ReadFile(name)
	must(t, err)
	m, err := new(targetsMeta).FromBytes(data)
	must(t, err)
	evilPayload := []byte("evil payload")
	tf, err := metadata.TargetFile().FromBytes("webkit/webkit-26.3-a.tar.gz", evilPayload, "sha256")
	must(t, err)
	tf.Custom = m.Signed.Targets["webkit/webkit-26.3-a.tar.gz"].Custom
	m.Signed.Targets["webkit/webkit-26.3-a.tar.gz"] = tf
	m.ClearSignatures()
	if _, err := m.Sign(f.key("webkit1")); err != nil {
		t.Fatal(err)
	}
	out, err := m.ToBytes(false)
	must(t, err)
	must(t, os.WriteFile(name, out, 0o644))
	c := f.client()
	tm, err := c.refresh()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.find(tm, "webkit/webkit-26.3-a.tar.gz"); err == nil {
		t.Fatal("the client accepted a webkit role substituted by a mirror holding the webkit key")
	}
}
