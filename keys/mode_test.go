//go:build unix

package keys

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeMode writes data to name in a fresh directory and gives it mode
// (umask does not apply).
func writeMode(t *testing.T, name string, data []byte, mode fs.FileMode) string {
	t.Helper()
	path := writeFile(t, name, data)
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPrivateKeyModes: a private key file that group or others may access
// is refused by every loader with a *PermissionError naming the file and
// its mode; owner-only modes load; public key files load whatever their
// mode.
func TestPrivateKeyModes(t *testing.T) {
	priv := newKey(t, Ed25519)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	privPEM := pemOf(pemPrivate, der)
	for _, tc := range []struct {
		mode fs.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o700, true},
		{0o644, false}, {0o640, false}, {0o604, false}, {0o660, false},
		{0o620, false}, {0o602, false}, {0o610, false}, {0o601, false},
		{0o666, false}, {0o777, false}, {0o440, false}, {0o404, false},
	} {
		path := writeMode(t, "k.key", privPEM, tc.mode)
		for _, l := range []loader{loadSigner, inspect, loadPublic} {
			err := l.load(t.Context(), path, nil)
			var pe *PermissionError
			switch {
			case tc.ok && l.name != "LoadPublicKey" && err != nil:
				t.Errorf("%s(mode %#o) = %v, want nil", l.name, tc.mode, err)
			case tc.ok:
			case !errors.As(err, &pe):
				t.Errorf("%s(mode %#o) = %v, want a *PermissionError", l.name, tc.mode, err)
			case pe.Path != path || pe.Mode != tc.mode:
				t.Errorf("%s(mode %#o): PermissionError{%q, %#o}, want {%q, %#o}", l.name, tc.mode, pe.Path, pe.Mode, path, tc.mode)
			default:
				msg := err.Error()
				if !strings.Contains(msg, path) || !strings.Contains(msg, "mode 0"+octal(tc.mode)) || !strings.Contains(msg, "want mode 0600") {
					t.Errorf("%s(mode %#o): message %q does not name the file, its mode and the fix", l.name, tc.mode, msg)
				}
			}
		}
	}
}

func octal(m fs.FileMode) string {
	const digits = "01234567"
	p := uint32(m.Perm())
	return string([]byte{digits[p>>6&7], digits[p>>3&7], digits[p&7]})
}

// TestEncryptedKeyModeCheckedFirst: a loose encrypted key is refused before
// the password is asked for.
func TestEncryptedKeyModeCheckedFirst(t *testing.T) {
	_, enc := encryptedKey(t, Ed25519)
	data, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	path := writeMode(t, "enc.key", data, 0o640)
	for _, l := range []loader{loadSigner, inspect} {
		calls := 0
		err := l.load(t.Context(), path, staticPassword(testPassword, &calls))
		var pe *PermissionError
		if !errors.As(err, &pe) || calls != 0 {
			t.Errorf("%s(encrypted, 0640) = %v after %d password calls, want a *PermissionError and none", l.name, err, calls)
		}
	}
}

// TestPublicKeyAnyMode: public key files are not secret.
func TestPublicKeyAnyMode(t *testing.T) {
	priv := newKey(t, ECDSA)
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []fs.FileMode{0o644, 0o666, 0o444, 0o600} {
		path := writeMode(t, "k.pub", pemOf(pemPublic, pub), mode)
		if _, err := LoadPublicKey(path); err != nil {
			t.Errorf("LoadPublicKey(mode %#o) = %v", mode, err)
		}
		if _, err := Inspect(t.Context(), path, nil); err != nil {
			t.Errorf("Inspect(mode %#o) = %v", mode, err)
		}
	}
}

// TestKeyFileNotRegular: directories, named pipes (without hanging on the
// open) and devices, directly or through a symbolic link, are refused with
// ErrNotRegular; a symbolic link to a good key file is followed, and one to
// a loose key file is refused.
func TestKeyFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.key")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	priv := newKey(t, Ed25519)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	good := writeMode(t, "good.key", pemOf(pemPrivate, der), 0o600)
	loose := writeMode(t, "loose.key", pemOf(pemPrivate, der), 0o644)
	refs := map[string]string{
		"directory":         dir,
		"named pipe":        fifo,
		"link to /dev/zero": link("zero.key", "/dev/zero"),
		"link to /dev/null": link("null.key", "/dev/null"),
		"link to a pipe":    link("pipe.key", fifo),
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // a hang guard only
	defer cancel()
	for what, ref := range refs {
		if _, err := os.Stat(ref); err != nil {
			t.Logf("%s: %v (skipped)", what, err)
			continue
		}
		for _, l := range allLoaders {
			done := make(chan error, 1)
			go func() { done <- l.load(ctx, ref, nil) }()
			select {
			case err := <-done:
				var fe *FileError
				if !errors.Is(err, ErrNotRegular) || !errors.As(err, &fe) || fe.Path != ref {
					t.Errorf("%s(%s) = %v, want a *FileError wrapping ErrNotRegular", l.name, what, err)
				}
			case <-ctx.Done():
				t.Fatalf("%s(%s) hangs", l.name, what)
			}
		}
	}
	if _, err := LoadSigner(t.Context(), link("good-link.key", good), nil); err != nil {
		t.Errorf("LoadSigner(link to a 0600 key) = %v, want nil", err)
	}
	var pe *PermissionError
	if _, err := LoadSigner(t.Context(), link("loose-link.key", loose), nil); !errors.As(err, &pe) {
		t.Errorf("LoadSigner(link to a 0644 key) = %v, want a *PermissionError", err)
	}
}
