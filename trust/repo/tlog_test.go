package repo

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingLog is a Transparency that records the facts, or fails.
type recordingLog struct {
	facts *TransparencyFacts
	err   error
}

func (r *recordingLog) LogPublish(_ context.Context, _ Destination, f *TransparencyFacts) error {
	r.facts = f
	return r.err
}

func tlogFixture(t *testing.T) *fixture {
	f := newFixture(t)
	f.init(1, "root")
	if err := f.ws.Delegate(context.Background(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit")}); err != nil {
		t.Fatal(err)
	}
	f.add("wk-1", "webkit", 1, "webkit")
	pf := filepath.Join(t.TempDir(), "policy")
	os.WriteFile(pf, []byte("log example+00000000+AA==\n"), 0o644)
	if err := f.ws.SetTransparencyPolicy(context.Background(), pf, f.key("targets")); err != nil {
		t.Fatal(err)
	}
	f.sign("root")
	return f
}

func TestPublishGivesTheTransparencyLogEveryFact(t *testing.T) {
	f := tlogFixture(t)
	rec := &recordingLog{}
	f.ws.opts.Transparency = rec
	f.publish()
	if rec.facts == nil || string(rec.facts.Policy) != "log example+00000000+AA==\n" {
		t.Fatalf("facts %+v", rec.facts)
	}
	if len(rec.facts.Roots) != 1 || rec.facts.Roots[0].Version != 1 || rec.facts.Roots[0].Length == 0 {
		t.Fatalf("roots %+v", rec.facts.Roots)
	}
	if len(rec.facts.Improvements) != 1 {
		t.Fatalf("improvements %+v", rec.facts.Improvements)
	}
	im := rec.facts.Improvements[0]
	if im.Entry.Path != "webkit/wk-1.tar.gz" || im.Entry.Role != "webkit" || im.Entry.RoleVersion < 1 || len(im.Files) != 1 || im.Withdrawn { // sha256 alone by default
		t.Fatalf("improvement %+v", im)
	}
	if _, err := im.Entry.Marshal(); err != nil {
		t.Fatal(err)
	}
	for _, name := range im.Files {
		if _, err := os.Stat(filepath.Join(f.public(), filepath.FromSlash(name))); err != nil {
			t.Fatalf("the proof's payload name %s is not the published file: %v", name, err)
		}
	}
	// The policy is published as a top-level target like any payload.
	if got, _ := f.ws.TransparencyPolicy(); string(got) != string(rec.facts.Policy) {
		t.Fatalf("TransparencyPolicy: %q", got)
	}
	// A withdrawn improvement is still logged, without proof.
	if err := f.ws.Withdraw(context.Background(), "wk-1", "broken", f.key("webkit")); err != nil {
		t.Fatal(err)
	}
	f.publish()
	if im := rec.facts.Improvements[0]; !im.Withdrawn {
		t.Fatalf("withdrawn improvement: %+v", im)
	}
}

func TestAttackPublishWithoutTheLogWritesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		tr   Transparency
		want string
	}{
		{"no log configured", nil, "no transparency log is configured"},
		{"the log fails (no witness quorum)", &recordingLog{err: errors.New("no quorum")}, "no quorum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tlogFixture(t)
			f.ws.opts.Transparency = tc.tr
			d, _ := DirDestination(f.public())
			_, err := f.ws.Publish(context.Background(), d)
			var te *TransparencyError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("publish: %v", err)
			}
			if _, err := os.Stat(filepath.Join(f.public(), "timestamp.json")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("timestamp.json written: %v", err)
			}
			if _, err := os.Stat(filepath.Join(f.public(), "1.targets.json")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("targets written: %v", err)
			}
		})
	}
}

func TestPublishWithoutPolicyDoesNotLog(t *testing.T) {
	f := newFixture(t)
	f.init(1, "root")
	f.sign("root", "targets")
	rec := &recordingLog{err: errors.New("must not be called")}
	f.ws.opts.Transparency = rec
	f.publish()
	if rec.facts != nil {
		t.Fatal("a workspace without tlog-policy was logged")
	}
	if p, err := f.ws.TransparencyPolicy(); p != nil || err != nil {
		t.Fatalf("TransparencyPolicy: %q %v", p, err)
	}
}
