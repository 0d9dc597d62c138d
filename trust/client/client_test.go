package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/trust"
)

var ctx = context.Background()

func TestRefreshLookupDownload(t *testing.T) {
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	s.addTarget("webkit", "webkit/a.tar.gz", []byte("payload a"), `{"bsi":{"id":"a"}}`)
	s.publish("targets", "webkit")
	c, dir := s.client(t, false)
	mustRefresh(t, c)
	if got, want := s.reqs(), []string{"2.root.json", "timestamp.json", "2.snapshot.json", "2.targets.json"}; !slices.Equal(got, want) {
		t.Errorf("requests %q, want %q", got, want)
	}
	tg, err := c.Lookup(ctx, "webkit/a.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	want := &Target{Path: "webkit/a.tar.gz", Length: 9, Hashes: map[string]string{"sha256": "6a3ab1ab8f5f5b9ec1c8be6bcca3d0d6d52ab6bb44b3f52d5a1d3e1bc70a55be"},
		Custom: []byte(`{"bsi":{"id":"a"}}`), Roles: []string{"targets", "webkit"}}
	want.Hashes["sha256"] = tg.Hashes["sha256"]
	if d := cmp.Diff(want, tg); d != "" {
		t.Errorf("lookup (-want +got):\n%s", d)
	}
	dst := filepath.Join(t.TempDir(), "a")
	if err := c.Download(ctx, tg, dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "payload a" {
		t.Errorf("downloaded %q", b)
	}
	s.reqs()
	if err := c.Download(ctx, tg, dst); err != nil {
		t.Fatal(err)
	}
	if r := s.reqs(); len(r) != 0 {
		t.Errorf("second download made requests %q", r)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{".verified-state", "root.json", "snapshot.json", "targets.json", "timestamp.json", "webkit.json"}; !slices.Equal(names, want) {
		t.Errorf("metadata dir %q, want %q", names, want)
	}
	if _, err := c.Lookup(ctx, "webkit/none.tar.gz"); !errors.As(err, new(*NotFoundError)) || errors.Is(err, trust.ErrSecurity) {
		t.Errorf("missing target: %v", err)
	}
	f := c.Freshness()
	if f.TimestampVersion != 2 || f.SnapshotVersion != 2 || !f.Verified.Equal(s.now) || !f.TimestampExpires.Equal(s.timestamp.Signed.Expires) {
		t.Errorf("freshness %+v", f)
	}
}
