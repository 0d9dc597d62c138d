package serve

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// maxGuardScan bounds how many entries NewHandler looks at when it checks
// a tree for a workspace or private keys. Past it the scan stops: the
// check of each served file's first bytes still keeps keys from being
// sent.
const maxGuardScan = 20_000

// maxSniffSize is the largest file whose first bytes NewHandler reads while
// scanning: key files are a few hundred bytes. Larger files are checked when
// they are requested.
const maxSniffSize = 64 << 10

// sniffLen is how many leading bytes are read to recognise a PEM private
// key: its header line, after optional white space.
const sniffLen = 512

// UnsafeTreeError is returned by NewHandler for a directory that must not
// be served: it holds a publisher's workspace or private key material.
type UnsafeTreeError struct {
	Dir    string // the directory asked to be served
	File   string // the offending file, slash-separated, relative to Dir
	Reason string // what it is
}

func (e *UnsafeTreeError) Error() string {
	return fmt.Sprintf("serve: refusing to serve %s: %s %s; serve only the published tree (what \"bsi repo publish\" writes)",
		e.Dir, e.File, e.Reason)
}

// checkTree walks root (skipping dot-entries, which are never served) for
// at most maxGuardScan entries and refuses a publisher workspace
// (workspace.json), key files (*.key) and small regular files that start
// with a PEM private key header. Symbolic links are not followed: what
// they point to inside the tree is scanned under its own name.
func checkTree(dir string, root *os.Root) error {
	seen := 0
	errStop := fmt.Errorf("scan limit")
	err := fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable: not served either
		}
		if name == "." {
			return nil
		}
		if seen++; seen > maxGuardScan {
			return errStop
		}
		base := path.Base(name)
		if strings.HasPrefix(base, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch {
		case base == "workspace.json":
			return &UnsafeTreeError{Dir: dir, File: name, Reason: "is a bsi workspace's configuration"}
		case strings.HasSuffix(base, ".key") && !d.IsDir():
			return &UnsafeTreeError{Dir: dir, File: name, Reason: "is named like a private key file"}
		case !d.Type().IsRegular():
			return nil
		}
		fi, err := d.Info()
		if err != nil || fi.Size() > maxSniffSize {
			return nil
		}
		f, err := root.OpenFile(name, os.O_RDONLY|openNonBlock, 0)
		if err != nil {
			return nil
		}
		defer f.Close()
		if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
			return nil // replaced since the listing
		}
		if kind, ok := sniffPrivateKey(f); ok {
			return &UnsafeTreeError{Dir: dir, File: name, Reason: fmt.Sprintf("is a private key (PEM %q)", kind)}
		}
		return nil
	})
	if err == errStop {
		return nil
	}
	return err
}

// sniffPrivateKey reads the first bytes of f (from offset 0, without moving
// its offset) and reports whether they are a PEM private key header, and
// the PEM type ("ENCRYPTED SIGSTORE PRIVATE KEY", "PRIVATE KEY", "EC
// PRIVATE KEY", ...).
func sniffPrivateKey(f io.ReaderAt) (string, bool) {
	buf := make([]byte, sniffLen)
	n, err := f.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return "", false
	}
	return privateKeyPEM(buf[:n])
}

// privateKeyPEM reports whether b starts, after white space, with a PEM
// header line "-----BEGIN <TYPE>-----" whose type ends in "PRIVATE KEY".
func privateKeyPEM(b []byte) (string, bool) {
	b = bytes.TrimLeft(b, " \t\r\n\ufeff")
	rest, ok := bytes.CutPrefix(b, []byte("-----BEGIN "))
	if !ok {
		return "", false
	}
	typ, _, ok := bytes.Cut(rest, []byte("-----"))
	if !ok || !bytes.HasSuffix(typ, []byte("PRIVATE KEY")) || bytes.ContainsAny(typ, "\r\n") {
		return "", false
	}
	return string(typ), true
}
