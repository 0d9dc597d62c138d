package repo

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/bsiframework/bsi/manifest"
	"github.com/bsiframework/bsi/trust"
)

// published returns a fixture with webkit delegated, one improvement and
// everything published.
func published(t *testing.T) *fixture {
	f := newFixture(t)
	f.init(1, "root1")
	if err := f.ws.Delegate(t.Context(), "webkit", DelegateOptions{Keys: f.tufKeys("webkit1")}); err != nil {
		t.Fatal(err)
	}
	f.add("webkit-26.3-a", "webkit", 1, "webkit1")
	f.sign("root1", "targets")
	f.publish()
	return f
}

func tarFile(t *testing.T, dir string, entries ...*tar.Header) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(make([]byte, h.Size))
		}
	}
	tw.Close()
	p := filepath.Join(dir, "p.tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func TestBadInputLeavesWorkspaceUnchanged(t *testing.T) {
	tmp := t.TempDir()
	notTar := filepath.Join(tmp, "x.tar")
	os.WriteFile(notTar, []byte("this is not an archive at all, just text that goes on and on"), 0o644)
	blocker := filepath.Join(tmp, "file")
	os.WriteFile(blocker, nil, 0o644)
	addWith := func(m []byte, payload func(*fixture) string) func(*fixture) error {
		return func(f *fixture) error {
			_, err := f.ws.Add(t.Context(), AddRequest{Manifest: m, Payload: payload(f)})
			return err
		}
	}
	good := func(f *fixture) string { return f.payload("ok", "ok") }
	tests := []struct {
		name  string
		setup func(f *fixture) // changes made before the "before" picture
		op    func(f *fixture) error
		want  any // pointer to an error type, or a sentinel error
	}{
		{"manifest invalid", nil, addWith([]byte(`{"schema":"bsi.improvement/v1","id":"x"}`), good), new(*manifest.ValidationError)},
		{"undelegated component", nil, addWith(manifestJSON("safari-26.3-a", "safari", 1), good), new(*ImprovementError)},
		{"payload not a tar", nil, addWith(manifestJSON("webkit-26.3-b", "webkit", 2), func(*fixture) string { return notTar }), new(*PayloadError)},
		{"payload empty", nil, addWith(manifestJSON("webkit-26.3-b", "webkit", 2), func(*fixture) string { return tarFile(t, tmp) }), new(*PayloadError)},
		{"payload path traversal", nil, addWith(manifestJSON("webkit-26.3-b", "webkit", 2), func(*fixture) string {
			return tarFile(t, tmp, &tar.Header{Name: "../../etc/passwd", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644})
		}), new(*PayloadError)},
		{"payload symlink escape", nil, addWith(manifestJSON("webkit-26.3-b", "webkit", 2), func(*fixture) string {
			return tarFile(t, tmp, &tar.Header{Name: "lib/x", Typeflag: tar.TypeSymlink, Linkname: "../../../etc/shadow", Mode: 0o777})
		}), new(*PayloadError)},
		{"duplicate id", nil, addWith(manifestJSON("webkit-26.3-a", "webkit", 2), good), new(*ImprovementError)},
		{"sequence not higher", nil, addWith(manifestJSON("webkit-26.3-b", "webkit", 1), good), new(*ImprovementError)},
		{"sequence gap", nil, addWith(manifestJSON("webkit-26.3-b", "webkit", 3), good), new(*ImprovementError)},
		{"key not authorised", nil, func(f *fixture) error {
			if err := f.ws.Withdraw(t.Context(), "webkit-26.3-a", "bad", f.key("intruder")); err != nil {
				return err
			}
			return nil
		}, trust.ErrSecurity},
		{"key not authorised for named role", func(f *fixture) {
			f.ws.Delegate(t.Context(), "safari", DelegateOptions{Keys: f.tufKeys("s1")})
		}, func(f *fixture) error {
			_, err := f.ws.Sign(t.Context(), f.key("webkit1"), metadata.TARGETS)
			return err
		}, new(*NotAuthorisedError)},
		{"threshold above key count", nil, func(f *fixture) error {
			return f.ws.Delegate(t.Context(), "safari", DelegateOptions{Keys: f.tufKeys("s1"), Threshold: 2})
		}, new(*ThresholdError)},
		{"removing the last root key", nil, func(f *fixture) error {
			return f.ws.Rotate(t.Context(), metadata.ROOT, RotateOptions{Remove: []string{f.keyID("root1")}})
		}, new(*ThresholdError)},
		{"rotate threshold unreachable", nil, func(f *fixture) error {
			return f.ws.Rotate(t.Context(), metadata.TARGETS, RotateOptions{Threshold: 2})
		}, new(*ThresholdError)},
		{"publish with pending signatures", func(f *fixture) { f.add("webkit-26.3-b", "webkit", 2) }, func(f *fixture) error {
			_, err := f.ws.Publish(t.Context(), mustDir(t, f.public()))
			return err
		}, new(*PendingError)},
		{"destination not writable", func(f *fixture) { f.ws.Withdraw(t.Context(), "webkit-26.3-a", "bad", f.key("webkit1")) }, func(f *fixture) error {
			_, err := f.ws.Publish(t.Context(), &dirDest{dir: filepath.Join(blocker, "sub")})
			return err
		}, new(*DestinationError)},
		{"online key fails to load (wrong password)", func(f *fixture) { f.ws.Withdraw(t.Context(), "webkit-26.3-a", "bad", f.key("webkit1")) }, func(f *fixture) error {
			f.ws.opts.LoadSigner = func(context.Context, string) (signature.Signer, error) {
				return nil, errors.New("decrypt: wrong password")
			}
			_, err := f.ws.Publish(t.Context(), mustDir(t, f.public()))
			if err != nil && !strings.Contains(err.Error(), "wrong password") {
				t.Errorf("error %q does not give the cause", err)
			}
			return err
		}, nil},
		{"expired root", func(f *fixture) { f.ws.Withdraw(t.Context(), "webkit-26.3-a", "bad", f.key("webkit1")) }, func(f *fixture) error {
			f.clock = f.clock.AddDate(2, 0, 0)
			_, err := f.ws.Publish(t.Context(), mustDir(t, f.public()))
			return err
		}, trust.ErrFreshness},
		{"concurrent open", nil, func(f *fixture) error {
			_, err := Open(t.Context(), f.dir, f.opts())
			return err
		}, new(*LockedError)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := published(t)
			if tt.setup != nil {
				tt.setup(f)
			}
			before := tree(t, f.dir)
			err := tt.op(f)
			if err == nil {
				t.Fatal("no error")
			}
			switch w := tt.want.(type) {
			case error:
				if !errors.Is(err, w) {
					t.Fatalf("error %v (%T) is not %v", err, err, w)
				}
			case nil:
			default:
				if !errors.As(err, w) {
					t.Fatalf("error %v is %T, want %T", err, err, w)
				}
			}
			t.Logf("%s: %v", tt.name, err)
			if d := diffTree(before, tree(t, f.dir)); d != "" {
				t.Errorf("workspace changed (-before +after):\n%s", d)
			}
			// The in-memory state was reset too: the workspace still publishes.
			if _, err := f.ws.Status(t.Context()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLockedErrorNamesHolder(t *testing.T) {
	f := published(t)
	_, err := Open(t.Context(), f.dir, f.opts())
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || le.Since.IsZero() {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), "workspace is locked by pid") {
		t.Fatalf("message %q", err)
	}
	f.ws.Close()
	w, err := Open(t.Context(), f.dir, f.opts())
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	w.Close()
}
