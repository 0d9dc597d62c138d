package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bsiframework/bsi/conformance/sim"
	"github.com/bsiframework/bsi/trust"
)

const auditManifest = `{"schema":"bsi.improvement/v1","id":"webkit-26.3-a","title":"Fix","platform":"macos",
"component":"%s","applies_to":{"releases":["26.3"]},"sequence":1,"severity":"high",
"requires_restart":false,"released":"2026-11-27T10:00:00Z","status":"active"}`

// auditRepo is a published repository with one component role and one
// improvement; corrupt changes it before the audit.
func auditRepo(t *testing.T, component string, corrupt func(r *sim.Repo)) *AuditReport {
	t.Helper()
	r := sim.New(time.Now(), func(err error) { t.Fatal(err) })
	defer r.Close()
	r.Delegate("targets", "webkit", []string{"webkit/*"}, true)
	payload := []byte("payload")
	r.AddTarget("webkit", "webkit/webkit-26.3-a.tar.gz", payload)
	m := json.RawMessage(`{"bsi":` + sprintf(auditManifest, component) + `}`)
	r.SetCustom("webkit", "webkit/webkit-26.3-a.tar.gz", m)
	r.Publish("targets", "webkit")
	if corrupt != nil {
		corrupt(r)
	}
	rep, err := Audit(context.Background(), AuditOptions{URL: r.URL(), TargetsURL: r.TargetsURL(), Root: r.Get("1.root.json")})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestAuditClean(t *testing.T) {
	rep := auditRepo(t, "webkit", nil)
	if err := rep.Err(); err != nil {
		t.Fatalf("clean repository: %v: %+v", err, rep.Findings)
	}
	if rep.Targets != 1 || rep.Payloads != 1 || len(rep.Roles) != 5 {
		t.Errorf("clean repository: %d targets, %d payloads, %d roles", rep.Targets, rep.Payloads, len(rep.Roles))
	}
	if !rep.HasFinding("threshold", "root") {
		t.Errorf("a root threshold of 1 is not reported: %+v", rep.Findings)
	}
}

func TestAuditCorrupted(t *testing.T) {
	for _, tc := range []struct {
		name, component, check, role string
		class                        error
		corrupt                      func(r *sim.Repo)
	}{
		{"tampered payload", "webkit", "payload-hash", "webkit", trust.ErrSecurity, func(r *sim.Repo) {
			r.SetPayload("webkit/"+hexHash([]byte("payload"))+".webkit-26.3-a.tar.gz", []byte("evil"))
		}},
		{"expired timestamp", "webkit", "expiry", "timestamp", trust.ErrFreshness, func(r *sim.Repo) {
			r.Timestamp.Signed.Expires = r.Now.Add(-time.Hour)
			r.PublishTimestamp()
		}},
		{"timestamp signed by a wrong key", "webkit", "signature", "timestamp", trust.ErrSecurity, func(r *sim.Repo) {
			r.Signers["timestamp"] = []*sim.Key{r.NewKey(sim.Ed25519)}
			r.PublishTimestamp()
		}},
		{"component role signed by a wrong key", "webkit", "signature", "webkit", trust.ErrSecurity, func(r *sim.Repo) {
			r.Signers["webkit"] = r.Signers["targets"]
			r.Publish("webkit")
		}},
		{"manifest of another component", "libc", "manifest-role", "webkit", trust.ErrSecurity, nil},
		{"target outside its paths", "webkit", "delegation", "webkit", trust.ErrSecurity, func(r *sim.Repo) {
			r.AddTarget("webkit", "libc/x.tar", []byte("x"))
			r.Publish("webkit")
		}},
		{"role missing from snapshot", "webkit", "snapshot", "webkit", trust.ErrSecurity, func(r *sim.Repo) {
			r.Order = r.Order[:1]
			delete(r.Snapshot.Signed.Meta, "webkit.json")
			r.Publish()
		}},
		{"snapshot disagrees with timestamp", "webkit", "consistency", "snapshot", trust.ErrSecurity, func(r *sim.Repo) {
			r.Publish()
			r.Set("3.snapshot.json", r.Get("2.snapshot.json"))
		}},
		{"missing consistent-snapshot payload", "webkit", "payload-missing", "webkit", nil, func(r *sim.Repo) {
			r.Status("targets/webkit/"+hexHash([]byte("payload"))+".webkit-26.3-a.tar.gz", 404)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := auditRepo(t, tc.component, tc.corrupt)
			if rep.HasFinding("verifier-disagreement", "") {
				t.Errorf("go-tuf and the device client disagree: %+v", rep.Findings)
			}
			if !rep.HasFinding(tc.check, tc.role) {
				t.Fatalf("no %s finding on %s: %+v", tc.check, tc.role, rep.Findings)
			}
			err := rep.Err()
			switch {
			case err == nil:
				t.Fatal("no error")
			case tc.class != nil && !errors.Is(err, tc.class):
				t.Errorf("error %v, want %v", err, tc.class)
			case tc.class == nil && (errors.Is(err, trust.ErrSecurity) || errors.Is(err, trust.ErrFreshness)):
				t.Errorf("error %v, want an operational error", err)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"bsi tuf-client":              {"bsi", "tuf-client"},
		`"/opt/my dir/c" --x 'a b'`:   {"/opt/my dir/c", "--x", "a b"},
		`a\ b "q\"x" ''`:              {"a b", `q"x`, ""},
		"  python3   -m   client  \n": {"python3", "-m", "client"},
	} {
		got, err := SplitCommand(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", in, got, err, want)
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("SplitCommand(%q) = %q, want %q", in, got, want)
			}
		}
	}
	for _, in := range []string{"", "  ", `"open`, "'open", `end\`} {
		if _, err := SplitCommand(in); err == nil {
			t.Errorf("SplitCommand(%q): no error", in)
		}
	}
}

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }
