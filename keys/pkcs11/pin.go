package pkcs11

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxPINFile bounds the size of a pin-source file.
const maxPINFile = 4096

// PINFunc returns the PIN of the token labelled token, from wherever the
// caller keeps it (an environment variable, a prompt). An error it
// returns is passed on, wrapped.
type PINFunc func(token string) ([]byte, error)

// pinSourcePath returns the file named by a pin-source value: an absolute
// path, or a "file:" URI of one ("file:/p", "file:///p"). Programs
// ("|cmd") and other schemes are refused.
func pinSourcePath(src string) (string, error) {
	p := src
	if rest, ok := strings.CutPrefix(src, "file:"); ok {
		p = rest
		if h, ok := strings.CutPrefix(rest, "//"); ok {
			if !strings.HasPrefix(h, "/") {
				return "", fmt.Errorf("%q: a file: URI with a host is not supported; use file:/path", src)
			}
			p = h
		}
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q is neither an absolute path nor a file:/path URI", src)
	}
	if filepath.Clean(p) != p {
		return "", fmt.Errorf("%q is not a clean path", src)
	}
	return p, nil
}

// readPINSource reads the PIN from a pin-source file: its first line,
// without the line end. Like a private key file, the file must be regular
// and closed to group and others (mode 0600 or 0400). Errors name the
// file, never its content.
func readPINSource(src string) ([]byte, error) {
	path, err := pinSourcePath(src)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pin-source: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pin-source: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("pin-source %s: not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, &PINFileModeError{Path: path, Mode: uint32(perm)}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxPINFile+1))
	if err != nil {
		return nil, fmt.Errorf("pin-source %s: %w", path, err)
	}
	if len(data) > maxPINFile {
		return nil, fmt.Errorf("pin-source %s: larger than %d bytes", path, maxPINFile)
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		return nil, fmt.Errorf("pin-source %s: the first line is empty", path)
	}
	return line, nil
}

// PINFileModeError is a pin-source file that group or others may access.
// The fix is "chmod 600 PATH".
type PINFileModeError struct {
	Path string
	Mode uint32 // permission bits, e.g. 0o644
}

func (e *PINFileModeError) Error() string {
	return fmt.Sprintf("pin-source %s: open to group or others (mode %#o); want mode 0600", e.Path, e.Mode)
}

// pinFor returns the PIN of the token: from the URI's pin-source, else
// from pin. ErrNoPIN when neither gives one.
func pinFor(u *URI, token string, pin PINFunc) ([]byte, error) {
	if u.PINSource != "" {
		return readPINSource(u.PINSource)
	}
	if pin == nil {
		return nil, ErrNoPIN
	}
	p, err := pin(token)
	if err != nil {
		return nil, fmt.Errorf("reading the PIN: %w", err)
	}
	if len(p) == 0 {
		return nil, errors.New("empty PIN")
	}
	return p, nil
}
