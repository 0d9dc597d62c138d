package conformance

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust"
)

// published is a repository made by the real publisher (trust/repo) and
// served on 127.0.0.1: a 2-of-3 root, webkit with webkit-26.3-a and a
// withdrawn webkit-26.3-b, libc in 4 hash bins with libc-26.3-a.
func published(t *testing.T) *sim.Repo {
	t.Helper()
	ctx := context.Background()
	r := sim.New(time.Now(), func(err error) { t.Fatal(err) })
	t.Cleanup(r.Close)
	p := sim.NewPublisher(ctx, r, sim.PublisherOptions{Dir: filepath.Join(t.TempDir(), "ws"),
		RootKeys: 3, RootThreshold: 2, Components: []string{"webkit", "libc"}, Bins: map[string]int{"libc": 4}})
	t.Cleanup(p.Close)
	for _, m := range []*manifest.Manifest{improvement("webkit", "26.3", 1), improvement("webkit", "26.3", 2), improvement("libc", "26.3", 1)} {
		p.Add(ctx, m, payload(m))
	}
	p.Withdraw(ctx, "webkit-26.3-b", "breaks video playback")
	p.Publish(ctx)
	return r
}

func audit(t *testing.T, r *sim.Repo) *AuditReport {
	t.Helper()
	rep, err := Audit(context.Background(), AuditOptions{URL: r.URL(), TargetsURL: r.TargetsURL(), Root: r.Get("1.root.json")})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAuditPublished(t *testing.T) {
	t.Parallel()
	rep := audit(t, published(t))
	if err := rep.Err(); err != nil {
		t.Fatalf("audit of a published repository: %v: %+v", err, rep.Findings)
	}
	// root, timestamp, snapshot, targets, webkit, libc and its 4 bins; 3
	// improvements each under its sha256 name (the workspace default).
	if len(rep.Roles) != 10 || rep.Targets != 3 || rep.Payloads != 3 {
		t.Errorf("audit: %d roles, %d targets, %d payloads; want 10, 3, 3", len(rep.Roles), rep.Targets, rep.Payloads)
	}
	for _, ra := range rep.Roles {
		if !ra.Verified || ra.Budget != "ok" {
			t.Errorf("role %s: verified %v, budget %s", ra.Role, ra.Verified, ra.Budget)
		}
	}
	if rep.HasFinding("threshold", "root") {
		t.Errorf("a 2-of-3 root is reported as a threshold of 1: %+v", rep.Findings)
	}
}

// servedRole is the versioned name of role as the snapshot lists it.
func servedRole(r *sim.Repo, role string) string {
	return fmt.Sprintf("%d.%s.json", r.Snapshot.Signed.Meta[role+".json"].Version, role)
}

// libcBin is the bin that lists libc's improvement.
func libcBin(r *sim.Repo) string {
	for _, role := range r.Order {
		if strings.HasPrefix(role, "libc.bin-") && len(r.Targets[role].Signed.Targets) > 0 {
			return role
		}
	}
	return ""
}

func TestAuditPublishedCorrupted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, check, role string
		class             error // nil: an operational finding (exit 1)
		corrupt           func(t *testing.T, r *sim.Repo)
	}{
		{"tampered payload", "payload-hash", "webkit", trust.ErrSecurity, func(t *testing.T, r *sim.Repo) {
			tf := r.Targets["webkit"].Signed.Targets["webkit/webkit-26.3-a.tar.gz"]
			r.ServeTarget("webkit/webkit-26.3-a.tar.gz", tf.Hashes, []byte("evil"))
		}},
		{"removed component role file", "fetch", "webkit", nil, func(t *testing.T, r *sim.Repo) {
			r.Delete(servedRole(r, "webkit"))
		}},
		{"removed bin role file", "fetch", "", nil, func(t *testing.T, r *sim.Repo) {
			r.Delete(servedRole(r, libcBin(r)))
		}},
		{"timestamp pointing at a missing snapshot", "fetch", "snapshot", nil, func(t *testing.T, r *sim.Repo) {
			r.Delete(fmt.Sprintf("%d.snapshot.json", r.Snapshot.Signed.Version))
		}},
		{"expired timestamp", "expiry", "timestamp", trust.ErrFreshness, func(t *testing.T, r *sim.Repo) {
			r.Timestamp.Signed.Expires = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
			r.PublishTimestamp()
		}},
		{"expired bin", "expiry", "", trust.ErrFreshness, func(t *testing.T, r *sim.Repo) {
			bin := libcBin(r)
			r.Targets[bin].Signed.Expires = time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
			r.Publish(bin)
		}},
		{"component role signed by a wrong key", "signature", "webkit", trust.ErrSecurity, func(t *testing.T, r *sim.Repo) {
			r.Signers["webkit"] = []*sim.Key{r.NewKey(sim.Ed25519)}
			r.Publish("webkit")
		}},
		{"root version 2 signed by 1 of 2-of-3 keys", "signature", "root", trust.ErrSecurity, func(t *testing.T, r *sim.Repo) {
			r.Root.Signed.Version++
			r.RootSigners = r.Signers["root"][:1]
			r.PublishRoot()
		}},
		{"manifest of another component", "manifest-role", "webkit", trust.ErrSecurity, func(t *testing.T, r *sim.Repo) {
			custom, _ := improvement("libc", "26.3", 1).Custom()
			r.SetCustom("webkit", "webkit/webkit-26.3-a.tar.gz", custom)
			r.Publish("webkit")
		}},
		{"two active improvements with one sequence", "sequence", "webkit", nil, func(t *testing.T, r *sim.Repo) {
			m := improvement("webkit", "26.3", 1, func(m *manifest.Manifest) { m.ID = "webkit-26.3-x" })
			r.AddTarget("webkit", "webkit/webkit-26.3-x.tar.gz", payload(m))
			custom, _ := m.Custom()
			r.SetCustom("webkit", "webkit/webkit-26.3-x.tar.gz", custom)
			r.Publish("webkit")
		}},
		{"target outside the component's paths", "delegation", "webkit", trust.ErrSecurity, func(t *testing.T, r *sim.Repo) {
			r.AddTarget("webkit", "libc/extra.tar.gz", []byte("x"))
			r.Publish("webkit")
		}},
		{"bin missing from the snapshot", "snapshot", "", trust.ErrSecurity, func(t *testing.T, r *sim.Repo) {
			delete(r.Snapshot.Signed.Meta, libcBin(r)+".json")
			r.PublishSnapshot()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := published(t)
			tc.corrupt(t, r)
			rep := audit(t, r)
			if rep.HasFinding("verifier-disagreement", "") {
				t.Errorf("go-tuf and the device client disagree: %+v", rep.Findings)
			}
			if !rep.HasFinding(tc.check, tc.role) {
				t.Fatalf("no %s finding on %q: %+v", tc.check, tc.role, rep.Findings)
			}
			err := rep.Err()
			switch {
			case err == nil:
				t.Fatal("the audit passes")
			case tc.class != nil && !errors.Is(err, tc.class):
				t.Errorf("audit error %v, want %v", err, tc.class)
			case tc.class == nil && (errors.Is(err, trust.ErrSecurity) || errors.Is(err, trust.ErrFreshness)):
				t.Errorf("audit error %v, want an operational error", err)
			}
		})
	}
}

// TestAuditSnapshotMetaUnpinned: a snapshot that lists targets-family
// files by version only is a warning (snapshot-meta-unpinned), not a
// failure; one from bsi's publisher, which pins length and sha256, has no
// such finding.
func TestAuditSnapshotMetaUnpinned(t *testing.T) {
	rep := auditRepo(t, "webkit", nil) // sim: versions only
	if !rep.HasFinding("snapshot-meta-unpinned", "snapshot") {
		t.Errorf("no snapshot-meta-unpinned finding: %+v", rep.Findings)
	}
	for _, f := range rep.Findings {
		if f.Check == "snapshot-meta-unpinned" && (f.Severity != SevWarning || !strings.Contains(f.Message, "webkit.json")) {
			t.Errorf("finding %+v: want a warning naming webkit.json", f)
		}
	}
	if err := rep.Err(); err != nil {
		t.Errorf("an unpinned snapshot alone fails the audit: %v", err)
	}
	pinned := auditRepo(t, "webkit", func(r *sim.Repo) {
		r.MetaHashes = true
		r.Publish("targets", "webkit")
	})
	if pinned.HasFinding("snapshot-meta-unpinned", "snapshot") {
		t.Errorf("a sim snapshot with hashes is reported unpinned: %+v", pinned.Findings)
	}
	if rep := audit(t, published(t)); rep.HasFinding("snapshot-meta-unpinned", "snapshot") {
		t.Errorf("bsi's publisher left the snapshot unpinned: %+v", rep.Findings)
	}
}
